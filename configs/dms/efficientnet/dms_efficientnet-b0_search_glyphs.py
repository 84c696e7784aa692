# The EfficientNet-B0 DMS search of dms_efficientnet-b0_search_in1k.py on the generated
# glyphs set (dms_mm/datasets/glyphs.py) at 32x32: the search of benchmarks/compare.py and
# of `make demo`. Everything DMS comes from the ImageNet search config; only data, input
# size, classes and schedule change.
_base_ = [
    './dms_efficientnet-b0_search_in1k.py',
    '../../_base_/datasets/glyphs_bs64.py',
]

model = dict(
    architecture=dict(head=dict(num_classes=43, topk=(1, ))),
    mutator=dict(parse_cfg=dict(demo_input=(1, 3, 32, 32))),
)

data_preprocessor = dict(_delete_=True, **_base_.glyphs_data_preprocessor)
train_dataloader = dict(_delete_=True, **_base_.glyphs_train_dataloader)
val_dataloader = dict(_delete_=True, **_base_.glyphs_val_dataloader)
val_evaluator = dict(_delete_=True, **_base_.glyphs_val_evaluator)
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# the schedule of configs/_base_/schedules/glyphs_sgd_cosine.py, over the search's epochs
optim_wrapper = dict(optimizer=dict(lr=0.1, weight_decay=5e-5, nesterov=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, eta_min=1e-4),
]
train_cfg = dict(by_epoch=True, max_epochs=4, val_interval=4)
auto_scale_lr = dict(base_batch_size=64)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1),
)
randomness = dict(seed=0, deterministic=False)
