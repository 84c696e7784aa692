# scikit-learn's 8x8 handwritten digits (shipped with scikit-learn, nothing is
# downloaded), upscaled to 32x32. train: 1437 images, test: 360 images.
dataset_type = 'DigitsDataset'
image_size = 32
data_preprocessor = dict(
    num_classes=10,
    # the digits are grey levels 0..255 repeated in three channels
    mean=[127.5, 127.5, 127.5],
    std=[127.5, 127.5, 127.5],
    to_rgb=False,
)

train_pipeline = [
    dict(type='Resize', scale=(image_size, image_size), interpolation='bilinear'),
    dict(type='PackInputs'),
]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    dataset=dict(type=dataset_type, split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=0,
    dataset=dict(type=dataset_type, split='test', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))

test_dataloader = val_dataloader
test_evaluator = val_evaluator
