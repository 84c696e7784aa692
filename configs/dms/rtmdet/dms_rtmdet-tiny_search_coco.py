# DMS search of mmdet's RTMDet-tiny on COCO (data/coco, the standard mmdet layout), down to
# half of its FLOPs at 640x640. The model (CSPNeXt backbone, CSPNeXtPAFPN neck,
# RTMDetSepBNHead with convs shared across levels), the two-stage pipeline
# (CachedMosaic/CachedMixUp, then the plain stage-2 pipeline) and the runtime come from
# mmdet's own config; this file wraps the model in DMS and shortens the schedule to a search.
#
# What DMS searches, found by the generic tracer and stage finder, with no RTMDet code
# (`python tools/dms_summary.py THIS_CONFIG` prints it):
# - width: every coupled-channel unit of backbone, neck and head (55 units). The head's
#   stacked convs are one module per position shared by the three levels (share_conv),
#   each level with a BatchNorm of its own: one unit per shared conv, and the three neck
#   outputs that feed it form one unit. The ChannelAttention 1x1 conv of each CSP layer
#   follows the two halves of the concatenation it reads. The class/box outputs and the
#   image input keep their width.
# - depth: the CSPNeXtBlock of each backbone CSP layer (identity add). The neck's CSP
#   layers and the last backbone stage (after the SPPF) are built with add_identity=False:
#   no skip, their blocks are not removable.
_base_ = ['mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py']
custom_imports = dict(imports=['dms_mm'], allow_failed_imports=False)

architecture = _base_.model
architecture.update(_scope_='mmdet')
# mmdet's config starts the backbone from an ImageNet-pretrained CSPNeXt-tiny, which it
# downloads when the model is initialised. It is off here, so that nothing is fetched at
# run time. Opt in (recommended for a real search) with
#   --cfg-options model.architecture.backbone.init_cfg.type=Pretrained \
#       model.architecture.backbone.init_cfg.prefix=backbone. \
#       model.architecture.backbone.init_cfg.checkpoint=URL
# where URL is `checkpoint` of mmdet's rtmdet_tiny_8xb32-300e_coco.py (or a local copy).
architecture.backbone.init_cfg = None

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='DMSAlgorithm',
    # the RTMDet model with its DetDataPreprocessor; the FLOPs are counted at demo_input
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

# mmdet's AdamW recipe (no decay on norms and biases; bypass_duplicate, which the shared
# head convs need), plus the structure parameters (every parameter under `mutator`) in a
# group of their own, with a constant learning rate.
optim_wrapper = dict(
    constructor='mmrazor.DMSOptimWrapperConstructor',
    paramwise_cfg=dict(custom_keys={'mutator': dict(lr=5e-3, decay_mult=0.0)}))

# A DMS search is 1/10 of the 300-epoch retrain: 30 epochs, mmdet's schedule scaled down
# (linear warm-up over 1000 iterations, cosine over the second half, the stage-2 pipeline
# over the last 2 epochs, validated every epoch then).
max_epochs = 30
stage2_num_epochs = 2
interval = 5
train_cfg = dict(
    max_epochs=max_epochs,
    val_interval=interval,
    dynamic_intervals=[(max_epochs - stage2_num_epochs, 1)])
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0e-5, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', eta_min=_base_.base_lr * 0.05, begin=max_epochs // 2,
         end=max_epochs, T_max=max_epochs // 2, by_epoch=True, convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(interval=interval, max_keep_ckpts=3))

# mmdet's RTMDet hooks under DMS:
# - PipelineSwitchHook only touches the train dataloader's pipeline: unchanged.
# - EMAHook is left out of the search: it averages every parameter and buffer of
#   runner.model, which here include the keep ratios and importances of the structure,
#   so validation would run (and export would see) a lagging average of the structure.
#   The retrain config (a plain RTMDet) has it back.
custom_hooks = [
    dict(type='PipelineSwitchHook', switch_epoch=max_epochs - stage2_num_epochs,
         switch_pipeline=_base_.train_pipeline_stage2),
    dict(type='mmrazor.DMSSchedulerHook', schedule='root', decay_ratio=0.8, refine_ratio=0.2),
    # at the end: WORK_DIR/dms_export/subnet.json and pruned.pth
    dict(type='mmrazor.DMSExportHook', out_dir='dms_export'),
    # at the end: WORK_DIR/search_curve.png and structure.png
    dict(type='mmrazor.DMSPlotHook'),
]
