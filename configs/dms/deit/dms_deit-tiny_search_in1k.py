# DMS search of the paper's DeiT supernet on ImageNet-1k (data/imagenet, mmpretrain's
# layout): DeiT-S (embedding 384, 6 heads, MLP 1536) widened to 16 layers, searched
# down to the FLOPs of DeiT-T. Model, data, schedule and runtime come from mmpretrain's
# DeiT-S config; this file widens the model and wraps it in DMS.
#
# Searched: the embedding width (one unit through the patch embedding, cls token,
# position embedding, every LayerNorm, attention and MLP outputs, and the head input),
# each layer's MLP hidden width, heads, q/k and v head dims, and depth (each layer's
# attention and MLP residuals scaled by one mask).
_base_ = ['mmpretrain::deit/deit-small_4xb256_in1k.py']
custom_imports = dict(imports=['dms_mm'], allow_failed_imports=False)

architecture = _base_.model
architecture.update(_scope_='mmpretrain')
architecture.backbone.update(
    arch=dict(embed_dims=384, num_layers=16, num_heads=6, feedforward_channels=1536))

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='DMSAlgorithm',
    architecture=architecture,
    mutator=dict(
        type='DMSMutator',
        channel_unit_cfg=dict(
            type='DMSChannelUnit', default_args=dict(group_size=1, min_keep=0.05)),
        parse_cfg=dict(
            type='ChannelAnalyzer', demo_input=(1, 3, 224, 224), tracer_type='FxTracer'),
        depth=dict(enabled=True, lambda_scale=4.0),
        attention=dict(enabled=True, search_dims=True, head_lambda=4.0, dim_lambda=1.0)),
    # DeiT-T (mmpretrain arch 'deit-tiny') at 224x224, counted as DMS and mmengine count
    # it: 1.2584 GFLOPs (tests/test_configs checks this figure against the model)
    target_flops=1.2584e9,
    loss_type='log',
    loss_weight=1.0,
    two_sided=True,
)

optim_wrapper = dict(
    constructor='mmrazor.DMSOptimWrapperConstructor',
    paramwise_cfg=dict(custom_keys={'mutator': dict(lr=5e-3, decay_mult=0.0)}))

custom_hooks = [
    dict(type='mmrazor.DMSSchedulerHook', schedule='root', decay_ratio=0.8, refine_ratio=0.2,
         by_epoch=True),
    dict(type='mmrazor.DMSExportHook', out_dir='dms_export'),
    dict(type='mmrazor.DMSPlotHook'),
]
# 30 epochs: a linear warm-up over the first 20, then cosine decay
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=20),
]
train_cfg = dict(max_epochs=30)
