# mmpretrain's EfficientNet-B0, unchanged, trained on the generated glyphs set at 32x32 on
# one CPU: the supernet of the glyphs comparison (benchmarks/compare.py). The model comes
# from mmpretrain's own config: nothing is copied.
_base_ = [
    'mmpretrain::_base_/models/efficientnet_b0.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/datasets/glyphs_bs64.py',
    '../_base_/schedules/glyphs_sgd_cosine.py',
]
custom_imports = dict(imports=['dms_mm'], allow_failed_imports=False)

model = dict(head=dict(num_classes=43, topk=(1, )))

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
