# DMS search of mmpretrain's EfficientNet-B0 on ImageNet-1k (data/imagenet, the standard
# mmpretrain layout), down to half of its FLOPs. The model, data pipeline, schedule and
# runtime come from mmpretrain's own config; this file only wraps the model in DMS.
_base_ = ['mmpretrain::efficientnet/efficientnet-b0_8xb32_in1k.py']
custom_imports = dict(imports=['dms_mm'], allow_failed_imports=False)

architecture = _base_.model
architecture.update(_scope_='mmpretrain')

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='DMSAlgorithm',
    architecture=architecture,
    mutator=dict(
        type='DMSMutator',
        channel_unit_cfg=dict(
            type='DMSChannelUnit',
            # one mask element per group of channels; min_keep keeps every unit alive
            default_args=dict(group_size=1, min_keep=0.05, lambda_scale=1.0)),
        parse_cfg=dict(
            type='ChannelAnalyzer', demo_input=(1, 3, 224, 224), tracer_type='FxTracer'),
        depth=dict(enabled=True, lambda_scale=4.0)),
    target_flops_ratio=0.5,
    loss_type='log',
    loss_weight=1.0,
    # also pull back up when below the target, so the budget is used, not undershot
    two_sided=True,
)

# The structure parameters (every parameter under `mutator`) train in their own group
# with a constant learning rate and no weight decay.
optim_wrapper = dict(
    constructor='mmrazor.DMSOptimWrapperConstructor',
    paramwise_cfg=dict(custom_keys={'mutator': dict(lr=5e-3, decay_mult=0.0)}))

custom_hooks = [
    dict(type='mmrazor.DMSSchedulerHook', schedule='root', decay_ratio=0.8, refine_ratio=0.2),
    # at the end: WORK_DIR/dms_export/subnet.json and pruned.pth
    dict(type='mmrazor.DMSExportHook', out_dir='dms_export'),
    # at the end: WORK_DIR/search_curve.png and structure.png
    dict(type='mmrazor.DMSPlotHook'),
]
# A DMS search is 1/10 of a retrain or less.
train_cfg = dict(max_epochs=30)
