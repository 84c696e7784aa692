# The DeiT search of dms_deit-tiny_search_in1k.py, scaled to scikit-learn's digits at
# 32x32 on one CPU (a few minutes): a small ViT supernet (embedding 64, 6 layers of
# 4 heads of 16 dims, MLP 256, 8x8 patches: 16 tokens and the class token), searched
# down to 40 % of its FLOPs. Everything DMS comes from the ImageNet config.
_base_ = [
    './dms_deit-tiny_search_in1k.py',
    '../../_base_/datasets/digits_bs32.py',
]

model = dict(
    architecture=dict(
        backbone=dict(
            arch=dict(embed_dims=64, num_layers=6, num_heads=4, feedforward_channels=256),
            img_size=32, patch_size=8),
        head=dict(num_classes=10, in_channels=64, topk=(1, )),
        # the digits set is small and clean: no mixup/cutmix
        train_cfg=None),
    mutator=dict(parse_cfg=dict(demo_input=(1, 3, 32, 32))),
    target_flops=None,
    target_flops_ratio=0.4,
)

data_preprocessor = dict(_delete_=True, **_base_.digits_data_preprocessor)
train_dataloader = dict(_delete_=True, **_base_.digits_train_dataloader)
val_dataloader = dict(_delete_=True, **_base_.digits_val_dataloader)
val_evaluator = dict(_delete_=True, **_base_.digits_val_evaluator)
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# AdamW as in DeiT, scaled to batch 32; 30 epochs of 45 iterations
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=90),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=0),
]
train_cfg = dict(by_epoch=True, max_epochs=30, val_interval=10)
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=15),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2),
)
randomness = dict(seed=0, deterministic=False)
