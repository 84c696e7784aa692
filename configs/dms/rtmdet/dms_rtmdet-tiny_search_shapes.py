# The RTMDet-tiny DMS search of dms_rtmdet-tiny_search_coco.py, shrunk so that it runs on one
# CPU in minutes: RTMDet-tiny at 128x128, on the shapes detection set that dms_mm generates
# (rectangles, circles and triangles on noisy backgrounds, COCO format). The set is
# generated in data_root on first use (deterministic, a few seconds;
# `python tools/make_shapes_coco.py DIR --num-train N` makes another size).
#
# Everything DMS and RTMDet comes from the COCO search config: the mutator, the AdamW
# recipe, the two-stage pipeline (CachedMosaic/CachedMixUp, then the plain stage-2
# pipeline, switched by PipelineSwitchHook) and the hooks. Only the classes, data, input
# size and schedule change. The data are read by mmdet's own CocoDataset (through
# ShapesCocoDataset, which generates them) and scored by its CocoMetric (pycocotools).
_base_ = ['./dms_rtmdet-tiny_search_coco.py']

img_scale = (128, 128)  # width, height
data_root = 'data/shapes_coco/'
metainfo = dict(classes=('rectangle', 'circle', 'triangle'))
custom_imports = dict(imports=['dms_mm', 'dms_mm.datasets.shapes_coco_dataset'],
                      allow_failed_imports=False)

model = dict(
    architecture=dict(bbox_head=dict(num_classes=3)),
    mutator=dict(parse_cfg=dict(demo_input=(1, 3, 128, 128))),
)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='CachedMosaic', img_scale=img_scale, pad_val=114.0, max_cached_images=20,
         random_pop=False),
    dict(type='RandomResize', scale=(256, 256), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=img_scale),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=img_scale, pad_val=dict(img=(114, 114, 114))),
    dict(type='CachedMixUp', img_scale=img_scale, ratio_range=(1.0, 1.0), max_cached_images=10,
         random_pop=False, pad_val=(114, 114, 114), prob=0.5),
    dict(type='PackDetInputs'),
]
train_pipeline_stage2 = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=img_scale),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Pad', size=img_scale, pad_val=dict(img=(114, 114, 114))),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='Pad', size=img_scale, pad_val=dict(img=(114, 114, 114))),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(
        type='ShapesCocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type='ShapesCocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# 512 images in batches of 16: 32 iterations an epoch. DMS decays the target over the
# first 80 % of the iterations and refines over the last 20 %. PipelineSwitchHook drops
# CachedMosaic/CachedMixUp for the last stage2_num_epochs epochs; validation then runs
# after each of them.
max_epochs = 12
stage2_num_epochs = 2
base_lr = 0.004
optim_wrapper = dict(optimizer=dict(lr=base_lr))
train_cfg = dict(
    max_epochs=max_epochs,
    val_interval=max_epochs,
    dynamic_intervals=[(max_epochs - stage2_num_epochs, 1)])
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0e-3, by_epoch=False, begin=0, end=32),
    dict(type='CosineAnnealingLR', eta_min=base_lr * 0.05, begin=max_epochs // 2,
         end=max_epochs, T_max=max_epochs // 2, by_epoch=True, convert_to_iter_based=True),
]
custom_hooks = [
    dict(type='PipelineSwitchHook', switch_epoch=max_epochs - stage2_num_epochs,
         switch_pipeline=train_pipeline_stage2),
    dict(type='mmrazor.DMSSchedulerHook', schedule='root', decay_ratio=0.8, refine_ratio=0.2),
    dict(type='mmrazor.DMSExportHook', out_dir='dms_export'),
    dict(type='mmrazor.DMSPlotHook'),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=8),
    checkpoint=dict(type='CheckpointHook', interval=4, max_keep_ckpts=2))
auto_scale_lr = dict(enable=False, base_batch_size=16)
randomness = dict(seed=0, deterministic=False)
