# mmpretrain's CIFAR ResNet-18 (ResNet_CIFAR: a 3x3 stem, no max-pool, four stages of two
# BasicBlocks) at a quarter of its width (stem and base width 16, so 16-32-64-128
# channels; 35 MFLOPs at 32x32), trained on the generated glyphs set on one CPU: the
# supernet of the glyphs comparison (benchmarks/compare.py) and of `make demo`.
# Why this model and not EfficientNet-B0: on 2 CPU cores it trains about 2x faster per image
# and leaves chance level after 200 to 500 iterations, where B0 stays at chance for more
# than 800 (see benchmarks/RESULTS.md), so a comparison fits the machine's budget.
_base_ = [
    'mmpretrain::_base_/models/resnet18_cifar.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/datasets/glyphs_bs64.py',
    '../_base_/schedules/glyphs_sgd_cosine.py',
]
custom_imports = dict(imports=['dms_mm'], allow_failed_imports=False)

# SGD at lr 0.3 rather than the schedule's 0.1: at 0.1 every run sat at the loss of chance
# (ln 43) for 350-500 of its 1,250 iterations (4 epochs over 20,000 images), and when it left
# decided its top-1 (uniform scaling to a quarter of the FLOPs: 89.6 / 90.5 / 83.8 % on
# seeds 0-2); at 0.2: 93.9 / 93.0 / 92.1; at 0.3: 93.9 / 93.6 / 93.0, leaving chance after
# 250-300 iterations (benchmarks/RESULTS.md, 2026-12-03)
optim_wrapper = dict(optimizer=dict(lr=0.3))

glyphs_resnet_width = 16
model = dict(
    backbone=dict(stem_channels=glyphs_resnet_width, base_channels=glyphs_resnet_width),
    head=dict(num_classes=43, in_channels=8 * glyphs_resnet_width, topk=(1, )))

data_preprocessor = _base_.glyphs_data_preprocessor
train_dataloader = _base_.glyphs_train_dataloader
val_dataloader = _base_.glyphs_val_dataloader
val_evaluator = _base_.glyphs_val_evaluator
test_dataloader = val_dataloader
test_evaluator = val_evaluator

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1),
)
randomness = dict(seed=0, deterministic=False)
# NHWC: the convolutions of oneDNN run faster on it (a training step at batch 64 took 0.82x
# its NCHW time on 2 CPU cores, a DMS search step 0.83x; benchmarks/RESULTS.md)
custom_hooks = [dict(type='mmrazor.ChannelsLastHook')]
