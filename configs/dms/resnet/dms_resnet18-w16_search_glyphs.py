# DMS search of the glyphs supernet (configs/baselines/resnet18-w16_1xb64_glyphs.py:
# mmpretrain's CIFAR ResNet-18 at width 16) on the generated glyphs set, down to a
# quarter of its FLOPs: the search of benchmarks/compare.py and of `make demo`.
# Data and schedule are the supernet's; the DMS settings are those of the ResNet-50 search.
#
# What DMS searches (`python tools/dms_summary.py THIS_CONFIG` prints it): the inner
# width of every BasicBlock, the residual stream of each stage, the stem, and the depth
# of each stage (the second BasicBlock of a stage has an identity shortcut).
_base_ = ['../../baselines/resnet18-w16_1xb64_glyphs.py']

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
            default_args=dict(group_size=1, min_keep=0.05, lambda_scale=1.0)),
        parse_cfg=dict(
            type='ChannelAnalyzer', demo_input=(1, 3, 32, 32), tracer_type='FxTracer'),
        depth=dict(enabled=True, lambda_scale=4.0)),
    target_flops_ratio=0.25,
    loss_type='log',
    loss_weight=1.0,
    two_sided=True,
)

# the structure parameters (every parameter under `mutator`) in a group of their own,
# with a constant learning rate and no weight decay
optim_wrapper = dict(
    constructor='mmrazor.DMSOptimWrapperConstructor',
    paramwise_cfg=dict(custom_keys={'mutator': dict(lr=5e-3, decay_mult=0.0)}))
train_cfg = dict(by_epoch=True, max_epochs=4, val_interval=4)
custom_hooks = [
    dict(type='mmrazor.DMSSchedulerHook', schedule='root', decay_ratio=0.8, refine_ratio=0.2),
    # at the end: WORK_DIR/dms_export/subnet.json and pruned.pth
    dict(type='mmrazor.DMSExportHook', out_dir='dms_export'),
    # at the end: WORK_DIR/search_curve.png and structure.png
    dict(type='mmrazor.DMSPlotHook'),
    # the model (and its masks) in NHWC, as the supernet's config trains it; last, so
    # that custom_hooks.0 and .1 stay the scheduler and the export hook
    dict(type='mmrazor.ChannelsLastHook'),
]
