# scikit-learn's 8x8 handwritten digits (shipped with scikit-learn, nothing is
# downloaded), upscaled to 32x32. train: 1437 images, test: 360 images.
# Everything is named digits_* so that a config can take this file as a second base
# beside an ImageNet config without clashing, and swap the data in with _delete_=True
# (see configs/dms/efficientnet/dms_efficientnet-b0_search_digits.py). The dataset and
# the metric carry their scope, so that they build the same when a downstream config
# inherits ours through `dms_mm::` (mmengine then tags unscoped dicts with dms_mm).
digits_image_size = 32
digits_data_preprocessor = dict(
    num_classes=10,
    # the digits are grey levels 0..255 repeated in three channels
    mean=[127.5, 127.5, 127.5],
    std=[127.5, 127.5, 127.5],
    to_rgb=False,
)
digits_pipeline = [
    dict(type='Resize', scale=(digits_image_size, digits_image_size), interpolation='bilinear'),
    dict(type='PackInputs'),
]
digits_train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    dataset=dict(
        type='DigitsDataset', _scope_='mmpretrain', split='train', pipeline=digits_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
digits_val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    dataset=dict(
        type='DigitsDataset', _scope_='mmpretrain', split='test', pipeline=digits_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
digits_val_evaluator = dict(type='Accuracy', _scope_='mmpretrain', topk=(1, ))
