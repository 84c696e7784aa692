# The CPU schedule of the glyphs set: SGD with Nesterov momentum, a 100-iteration linear
# warm-up, then cosine decay over the epochs (its end defaults to max_epochs), stepped every
# iteration: the runs here last 2 to 4 epochs, and a cosine stepped once an epoch holds a
# 2-epoch run at the full rate for its first epoch and at half of it for its second, so that
# it never anneals (a DMS retrain of 2 epochs at lr 0.3 ended at a training loss of 0.36 and
# 89.75 % where uniform scaling trained 4 epochs reached 93.9 %, benchmarks/RESULTS.md)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-5, nesterov=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, eta_min=1e-4,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=8, val_interval=8)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
