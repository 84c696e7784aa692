# The YOLOX DMS search of dms_yolox-s_search_coco.py, shrunk so that it runs on one CPU in
# minutes: YOLOX-tiny (mmdet's deepen/widen factors 0.33/0.375) at 128x128, on the shapes
# detection set that dms_mm generates (rectangles, circles and triangles on noisy
# backgrounds, COCO format). The set is generated in data_root on first use
# (deterministic, a few seconds; `python tools/make_shapes_coco.py DIR --num-train N`
# makes another size).
#
# Everything DMS and YOLOX comes from the COCO search config: the mutator, the two-stage
# pipeline (Mosaic/RandomAffine, then the plain last epochs with the L1 loss, switched by
# YOLOXModeSwitchHook), the multi-scale batch augment and the hooks. Only the model size,
# classes, data, input size and schedule change. The data are read by mmdet's own
# CocoDataset (through ShapesCocoDataset, which generates them) and scored by its
# CocoMetric (pycocotools).
_base_ = ['./dms_yolox-s_search_coco.py']

img_scale = (128, 128)  # width, height
data_root = 'data/shapes_coco/'
metainfo = dict(classes=('rectangle', 'circle', 'triangle'))
custom_imports = dict(imports=['dms_mm', 'dms_mm.datasets.shapes_coco_dataset'],
                      allow_failed_imports=False)

model = dict(
    architecture=dict(
        data_preprocessor=dict(batch_augments=[
            dict(type='BatchSyncRandomResize', random_size_range=(96, 160), size_divisor=32,
                 interval=10)
        ]),
        backbone=dict(deepen_factor=0.33, widen_factor=0.375),
        neck=dict(in_channels=[96, 192, 384], out_channels=96),
        bbox_head=dict(num_classes=3, in_channels=96, feat_channels=96)),
    mutator=dict(parse_cfg=dict(demo_input=(1, 3, 128, 128))),
)

train_pipeline = [
    dict(type='Mosaic', img_scale=img_scale, pad_val=114.0),
    dict(type='RandomAffine', scaling_ratio_range=(0.5, 1.5),
         border=(-img_scale[0] // 2, -img_scale[1] // 2)),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip', prob=0.5),
    # Resize and Pad are what is left when YOLOXModeSwitchHook skips Mosaic and RandomAffine
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='Pad', pad_to_square=True, pad_val=dict(img=(114.0, 114.0, 114.0))),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='Pad', pad_to_square=True, pad_val=dict(img=(114.0, 114.0, 114.0))),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        dataset=dict(
            type='ShapesCocoDataset',
            data_root=data_root,
            metainfo=metainfo,
            ann_file='annotations/instances_train.json',
            data_prefix=dict(img='train/')),
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
# first 80 % of the iterations and refines over the last 20 %. YOLOXModeSwitchHook drops
# Mosaic/RandomAffine and adds the L1 loss from epoch max_epochs - num_last_epochs on
# (epochs 11 and 12: mmdet's hook counts that way).
max_epochs = 12
num_last_epochs = 1
warmup_epochs = 1
base_lr = 0.02
optim_wrapper = dict(optimizer=dict(lr=base_lr))
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
param_scheduler = [
    dict(type='mmdet.QuadraticWarmupLR', by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=base_lr * 0.05, begin=warmup_epochs,
         T_max=max_epochs - num_last_epochs, end=max_epochs - num_last_epochs, by_epoch=True,
         convert_to_iter_based=True),
    dict(type='ConstantLR', by_epoch=True, factor=1, begin=max_epochs - num_last_epochs,
         end=max_epochs),
]
custom_hooks = [
    dict(type='mmrazor.ArchitectureHook', priority=48,
         hook=dict(type='mmdet.YOLOXModeSwitchHook', num_last_epochs=num_last_epochs)),
    dict(type='mmdet.SyncNormHook', priority=48),
    dict(type='mmrazor.DMSSchedulerHook', schedule='root', decay_ratio=0.8, refine_ratio=0.2),
    dict(type='mmrazor.DMSExportHook', out_dir='dms_export'),
    dict(type='mmrazor.DMSPlotHook'),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=8),
    checkpoint=dict(type='CheckpointHook', interval=4, max_keep_ckpts=2))
auto_scale_lr = dict(enable=False, base_batch_size=16)
randomness = dict(seed=0, deterministic=False)
