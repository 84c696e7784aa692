# The YOLOv8 DMS search of dms_yolov8-n_search_coco.py, shrunk so that it runs on one CPU
# in minutes: YOLOv8-n at 128x128, on the shapes detection set that dms_mm generates
# (rectangles, circles and triangles on noisy backgrounds, COCO format). The set is
# generated in data_root on first use (deterministic, a few seconds;
# `python tools/make_shapes_coco.py DIR --num-train N` makes another size).
#
# Everything DMS and YOLOv8 comes from the COCO search config: the mutator, mmyolo's
# two-stage pipeline (Mosaic and YOLOv5RandomAffine, then the plain last epochs, switched
# by PipelineSwitchHook), its optimizer grouping with the structure group after it, and
# YOLOv5ParamSchedulerHook. Only the input size, classes, data and schedule change. The
# data are read as mmyolo reads COCO (YOLOShapesCocoDataset) and scored by mmdet's
# CocoMetric (pycocotools).
_base_ = ['./dms_yolov8-n_search_coco.py']

img_scale = (128, 128)  # width, height
data_root = 'data/shapes_coco/'
metainfo = dict(classes=('rectangle', 'circle', 'triangle'))
num_classes = 3
custom_imports = dict(imports=['dms_mm', 'dms_mm.datasets.yolo_shapes_coco_dataset'],
                      allow_failed_imports=False)

model = dict(
    architecture=dict(
        bbox_head=dict(head_module=dict(num_classes=num_classes)),
        train_cfg=dict(assigner=dict(num_classes=num_classes))),
    mutator=dict(parse_cfg=dict(demo_input=(1, 3, 128, 128))),
    # batches of 16 on one process: mmyolo's losses are 16 times a per-image loss
    loss_weight=16.0,
)

_mosaic = [t for t in _base_.train_pipeline if t['type'] == 'Mosaic'][0]
_affine = [t for t in _base_.train_pipeline if t['type'] == 'YOLOv5RandomAffine'][0]
train_pipeline = [
    *_base_.pre_transform,
    dict(_mosaic, img_scale=img_scale),
    dict(_affine, border=(-img_scale[0] // 2, -img_scale[1] // 2)),
    *_base_._last_transform,
]
train_pipeline_stage2 = [
    *_base_.pre_transform,
    dict(type='YOLOv5KeepRatioResize', scale=img_scale),
    dict(type='LetterResize', scale=img_scale, allow_scale_up=True, pad_val=dict(img=114.0)),
    dict(_affine, border=(0, 0)),
    *_base_._last_transform,
]
test_pipeline = [
    dict(t, scale=img_scale) if t['type'] in ('YOLOv5KeepRatioResize', 'LetterResize') else t
    for t in _base_.test_pipeline
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(
        _delete_=True,
        type='YOLOShapesCocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=False, min_size=4),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    pin_memory=False,
    dataset=dict(
        _delete_=True,
        type='YOLOShapesCocoDataset',
        data_root=data_root,
        metainfo=metainfo,
        test_mode=True,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator

# 512 images in batches of 16: 32 iterations an epoch. DMS decays the target over the
# first 80 % of the iterations and refines over the last 20 %; the last epoch runs
# without Mosaic.
max_epochs = 12
close_mosaic_epochs = 1
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs,
                 dynamic_intervals=[(max_epochs - close_mosaic_epochs, max_epochs)])
optim_wrapper = dict(optimizer=dict(batch_size_per_gpu=16))
default_hooks = dict(
    param_scheduler=dict(max_epochs=max_epochs, warmup_epochs=1, warmup_mim_iter=32),
    logger=dict(type='LoggerHook', interval=8),
    checkpoint=dict(type='CheckpointHook', interval=4, max_keep_ckpts=2, save_best=None))
custom_hooks = [
    dict(type='mmdet.PipelineSwitchHook', switch_epoch=max_epochs - close_mosaic_epochs,
         switch_pipeline=train_pipeline_stage2),
    dict(type='mmrazor.DMSSchedulerHook', schedule='root', decay_ratio=0.8, refine_ratio=0.2),
    dict(type='mmrazor.DMSExportHook', out_dir='dms_export'),
    dict(type='mmrazor.DMSPlotHook'),
]
randomness = dict(seed=0, deterministic=False)
