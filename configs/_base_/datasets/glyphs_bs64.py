# The generated glyphs set (dms_mm/datasets/glyphs.py): 43 classes of characters in the
# fonts matplotlib ships, under random affine transforms, colours, textures and clutter,
# 32x32. train: 40,000 images, test: 8,000 images, generated on first use (about 35 s)
# and cached in data/glyphs/. Nothing is downloaded.
# Everything is named glyphs_* so that a config can take this file as a second base beside
# an ImageNet config and swap the data in with _delete_=True, as the digits configs do.
# The dataset and the metric carry their scope, so they build the same when a downstream
# config inherits ours through `dms_mm::`.
glyphs_image_size = 32
glyphs_data_preprocessor = dict(
    num_classes=43,
    mean=[127.5, 127.5, 127.5],
    std=[127.5, 127.5, 127.5],
    to_rgb=False,  # the generator writes RGB
)
glyphs_pipeline = [dict(type='PackInputs')]
glyphs_train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    dataset=dict(type='GlyphsDataset', _scope_='mmpretrain', split='train',
                 pipeline=glyphs_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
glyphs_val_dataloader = dict(
    batch_size=256,
    num_workers=0,
    dataset=dict(type='GlyphsDataset', _scope_='mmpretrain', split='test',
                 pipeline=glyphs_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
glyphs_val_evaluator = dict(type='Accuracy', _scope_='mmpretrain', topk=(1, ))
