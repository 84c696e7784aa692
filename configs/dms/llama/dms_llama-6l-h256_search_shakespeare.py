# DMS from a trained dense Llama (the paper's DMSp) on Shakespeare, on one CPU: the
# 6-layer Llama of configs/llama/llama-6l-h256_1xb16_shakespeare.py (hidden 256, 8 query
# heads in 2 GQA groups of 32-dim heads, FFN 688; 6.25 M parameters), trained first with
# that config, then searched down to 80 % of its parameters (the paper's Llama target:
# 5.47 B of 6.74 B is 0.81).
#
# Searched (dms_mm/mutators/llama_family.py): the hidden size across the model, the heads
# of each layer in whole GQA groups (a key/value head with its query heads), each layer's
# FFN width, and the layers (a layer's attention and MLP residuals scaled by one mask).
# Head dims and the vocabulary stay.
#
#   python tools/train.py configs/llama/llama-6l-h256_1xb16_shakespeare.py
#   python tools/train.py configs/dms/llama/dms_llama-6l-h256_search_shakespeare.py
#
# `--cfg-options model.architecture.init_cfg.checkpoint=PATH` reads another dense checkpoint.
_base_ = ['../../llama/llama-6l-h256_1xb16_shakespeare.py']

dense_checkpoint = 'work_dirs/llama-6l-h256_1xb16_shakespeare/iter_3000.pth'
architecture = _base_.model
architecture.update(init_cfg=dict(type='Pretrained', checkpoint=dense_checkpoint))

model = dict(
    _delete_=True,
    type='DMSAlgorithm',
    architecture=architecture,
    mutator=dict(
        type='DMSMutator',
        channel_unit_cfg=dict(type='DMSChannelUnit', default_args=dict(min_keep=0.05)),
        parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, _base_.llama_block_size),
                       tracer_type='FxTracer'),
        depth=dict(enabled=True)),
    target_params_ratio=0.8,
    loss_type='log',
    loss_weight=1.0,
    two_sided=True,
)

# the dense model's AdamW at its final rate for the weights; the structure parameters
# (keep ratios) at their own rate, without weight decay
optim_wrapper = dict(
    optimizer=dict(lr=2e-4),
    constructor='mmrazor.DMSOptimWrapperConstructor',
    paramwise_cfg=dict(custom_keys={'mutator': dict(lr=5e-3, decay_mult=0.0)}))
max_iters = 600
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=30, end=max_iters, eta_min=2e-5),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
custom_hooks = [
    dict(type='DMSSchedulerHook', schedule='root', decay_ratio=0.8, refine_ratio=0.2),
    dict(type='DMSExportHook', out_dir='dms_export'),
    dict(type='DMSPlotHook'),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters,
                    max_keep_ckpts=1))
