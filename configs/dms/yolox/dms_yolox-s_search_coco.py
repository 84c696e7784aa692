# DMS search of mmdet's YOLOX-s on COCO (data/coco, the standard mmdet layout), down to
# half of its FLOPs at 640x640. The model, data pipelines (Mosaic/RandomAffine/MixUp, then
# the plain last epochs), batch augments and runtime come from mmdet's own config; this
# file wraps the model in DMS and shortens the schedule to a search.
#
# What DMS searches (`python tools/dms_summary.py THIS_CONFIG` prints it):
# - width: every coupled-channel unit of the backbone (CSPDarknet), the neck (YOLOXPAFPN)
#   and the head (YOLOXHead); the class/box/objectness outputs and the Focus input keep
#   their width;
# - depth: the DarknetBottleneck blocks of each backbone CSP layer (CSPLayer.blocks, an
#   nn.Sequential of blocks with an identity add). The neck's CSP layers are built with
#   add_identity=False, and the last backbone stage too (it follows the SPP): those
#   blocks have no skip and cannot be removed.
_base_ = ['mmdet::yolox/yolox_s_8xb8-300e_coco.py']
custom_imports = dict(imports=['dms_mm'], allow_failed_imports=False)

architecture = _base_.model
architecture.update(_scope_='mmdet')

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='DMSAlgorithm',
    # the YOLOX model with its DetDataPreprocessor and BatchSyncRandomResize batch
    # augment: the algorithm runs the architecture's data preprocessor, so the
    # multi-scale training of YOLOX is unchanged. The FLOPs are counted at demo_input.
    architecture=architecture,
    mutator=dict(
        type='DMSMutator',
        channel_unit_cfg=dict(
            type='DMSChannelUnit',
            default_args=dict(group_size=1, min_keep=0.05, lambda_scale=1.0)),
        parse_cfg=dict(
            type='ChannelAnalyzer', demo_input=(1, 3, 640, 640), tracer_type='FxTracer'),
        depth=dict(enabled=True, lambda_scale=4.0)),
    target_flops_ratio=0.5,
    loss_type='log',
    loss_weight=1.0,
    two_sided=True,
)

# mmdet's SGD recipe (no decay on norms and biases), plus the structure parameters
# (every parameter under `mutator`) in a group of their own, with a constant learning rate.
optim_wrapper = dict(
    constructor='mmrazor.DMSOptimWrapperConstructor',
    paramwise_cfg=dict(custom_keys={'mutator': dict(lr=5e-3, decay_mult=0.0)}))

# A DMS search is 1/10 of the 300-epoch retrain: 30 epochs, mmdet's schedule scaled down
# (quadratic warm-up, cosine, then constant lr over the last epochs without Mosaic/MixUp).
max_epochs = 30
num_last_epochs = 2
warmup_epochs = 2
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
param_scheduler = [
    dict(type='mmdet.QuadraticWarmupLR', by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=_base_.base_lr * 0.05, begin=warmup_epochs,
         T_max=max_epochs - num_last_epochs, end=max_epochs - num_last_epochs, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='ConstantLR', by_epoch=True, factor=1, begin=max_epochs - num_last_epochs,
         end=max_epochs),
]
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=3))

# mmdet's YOLOX hooks under DMS:
# - YOLOXModeSwitchHook sets `runner.model.bbox_head.use_l1`; the runner's model is the
#   DMSAlgorithm, so ArchitectureHook hands it the YOLOX model inside (`architecture`).
#   It still switches the train pipeline off Mosaic/RandomAffine/MixUp.
# - SyncNormHook averages the BatchNorm statistics of all ranks before validation; it
#   walks the modules of runner.model, which include the DMS BatchNorm ops: unchanged.
# - EMAHook is left out of the search: it averages every parameter and buffer of
#   runner.model, which here include the keep ratios and importances of the structure,
#   so validation would run (and export would see) a lagging average of the structure.
#   The retrain config (a plain YOLOX) has it back.
custom_hooks = [
    dict(type='mmrazor.ArchitectureHook', priority=48,
         hook=dict(type='mmdet.YOLOXModeSwitchHook', num_last_epochs=num_last_epochs)),
    dict(type='mmdet.SyncNormHook', priority=48),
    dict(type='mmrazor.DMSSchedulerHook', schedule='root', decay_ratio=0.8, refine_ratio=0.2),
    # at the end: WORK_DIR/dms_export/subnet.json and pruned.pth
    dict(type='mmrazor.DMSExportHook', out_dir='dms_export'),
    # at the end: WORK_DIR/search_curve.png and structure.png
    dict(type='mmrazor.DMSPlotHook'),
]
