# The EfficientNet-B0 DMS search of dms_efficientnet-b0_search_in1k.py, on scikit-learn's
# digits (shipped with scikit-learn) at 32x32, so that it runs on one CPU in minutes.
# Everything DMS comes from the ImageNet search config; only data, input size, classes
# and schedule change.
_base_ = [
    './dms_efficientnet-b0_search_in1k.py',
    '../../_base_/datasets/digits_bs32.py',
]

model = dict(
    architecture=dict(head=dict(num_classes=10, topk=(1, ))),
    mutator=dict(parse_cfg=dict(demo_input=(1, 3, 32, 32))),
)

data_preprocessor = dict(_delete_=True, **_base_.digits_data_preprocessor)
train_dataloader = dict(_delete_=True, **_base_.digits_train_dataloader)
val_dataloader = dict(_delete_=True, **_base_.digits_val_dataloader)
val_evaluator = dict(_delete_=True, **_base_.digits_val_evaluator)
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# 12 epochs of 45 iterations: decay over the first 80 %, refine over the last 20 %.
optim_wrapper = dict(optimizer=dict(lr=0.1, weight_decay=5e-5, nesterov=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, eta_min=1e-4),
]
train_cfg = dict(by_epoch=True, max_epochs=12, val_interval=2)
auto_scale_lr = dict(base_batch_size=32)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=4, max_keep_ckpts=2),
)
randomness = dict(seed=0, deterministic=False)
