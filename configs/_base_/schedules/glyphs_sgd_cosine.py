# The CPU schedule of the glyphs set: SGD with Nesterov momentum, a 100-iteration linear
# warm-up, then cosine decay over the epochs (its end defaults to max_epochs).
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-5, nesterov=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, eta_min=1e-4),
]
train_cfg = dict(by_epoch=True, max_epochs=8, val_interval=8)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
