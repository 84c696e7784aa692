# DMS search of mmpretrain's ResNet-50 (its ImageNet config, resnet50_8xb32_in1k.py) on
# scikit-learn's digits at 32x32, so that it runs on one CPU in minutes, down to half of
# its FLOPs. The model is mmpretrain's unchanged but for its 10 classes; only data, input
# size and schedule are the digits'.
#
# What DMS searches, found by the generic tracer and stage finder
# (`python tools/dms_summary.py THIS_CONFIG` prints it):
# - width: the two inner widths of every Bottleneck, and the residual stream of each
#   stage (the block outputs, the shortcut's downsample conv, and what reads them);
#   the image input and the class logits keep their width;
# - depth: the Bottlenecks of each ResLayer with an identity shortcut (all but the first
#   block of a stage, whose shortcut is a downsample conv).
_base_ = [
    'mmpretrain::resnet/resnet50_8xb32_in1k.py',
    '../../_base_/datasets/digits_bs32.py',
]
custom_imports = dict(imports=['dms_mm'], allow_failed_imports=False)

architecture = _base_.model
architecture.update(_scope_='mmpretrain')
architecture.head.update(num_classes=10, topk=(1, ))

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='DMSAlgorithm',
    architecture=architecture,
    mutator=dict(
        type='DMSMutator',
        channel_unit_cfg=dict(
            type='DMSChannelUnit',
            default_args=dict(group_size=1, min_keep=0.05, lambda_scale=1.0)),
        parse_cfg=dict(
            type='ChannelAnalyzer', demo_input=(1, 3, 32, 32), tracer_type='FxTracer'),
        depth=dict(enabled=True, lambda_scale=4.0)),
    target_flops_ratio=0.5,
    loss_type='log',
    loss_weight=1.0,
    two_sided=True,
)

data_preprocessor = dict(_delete_=True, **_base_.digits_data_preprocessor)
train_dataloader = dict(_delete_=True, **_base_.digits_train_dataloader)
val_dataloader = dict(_delete_=True, **_base_.digits_val_dataloader)
val_evaluator = dict(_delete_=True, **_base_.digits_val_evaluator)
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# mmpretrain's SGD, on the digits schedule; the structure parameters (every parameter
# under `mutator`) in a group of their own, with a constant learning rate.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-5, nesterov=True),
    constructor='mmrazor.DMSOptimWrapperConstructor',
    paramwise_cfg=dict(custom_keys={'mutator': dict(lr=5e-3, decay_mult=0.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, eta_min=1e-4),
]
# 12 epochs of 45 iterations: decay over the first 80 %, refine over the last 20 %.
train_cfg = dict(by_epoch=True, max_epochs=12, val_interval=4)
auto_scale_lr = dict(base_batch_size=32)
custom_hooks = [
    dict(type='mmrazor.DMSSchedulerHook', schedule='root', decay_ratio=0.8, refine_ratio=0.2),
    # at the end: WORK_DIR/dms_export/subnet.json and pruned.pth
    dict(type='mmrazor.DMSExportHook', out_dir='dms_export'),
    # at the end: WORK_DIR/search_curve.png and structure.png
    dict(type='mmrazor.DMSPlotHook'),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=4, max_keep_ckpts=2),
)
randomness = dict(seed=0, deterministic=False)
