# Retrain the YOLOv8 structure found by dms_yolov8-n_scaleup_search_coco.py with mmyolo's
# own YOLOv8-n COCO recipe: 500 epochs, its optimizer grouping, its YOLOv5ParamSchedulerHook,
# its two-stage pipeline and its hooks (EMAHook, PipelineSwitchHook), unchanged but for
# mmdet.Albu (left out for want of albumentations, as in the search), since the model is a
# plain YOLOv8 again. Point it at a search result with
#   --cfg-options model.subnet=DIR/subnet.json model.checkpoint=DIR/pruned.pth
_base_ = ['mmyolo::yolov8/yolov8_n_syncbn_fast_8xb16-500e_coco.py']
custom_imports = dict(imports=['dms_mm'], allow_failed_imports=False)

deepen_factor = 0.5
widen_factor = 0.5
architecture = _base_.model
architecture.update(
    _scope_='mmyolo',
    backbone=dict(deepen_factor=deepen_factor, widen_factor=widen_factor),
    neck=dict(deepen_factor=deepen_factor, widen_factor=widen_factor),
    bbox_head=dict(head_module=dict(widen_factor=widen_factor)))

search_work_dir = 'work_dirs/dms_yolov8-n_scaleup_search_coco'
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='DMSSubModel',
    # the architecture of the search: DMSSubModel finds its units and stages as the search
    # did, and keeps the channels and blocks that the subnet file lists
    architecture=architecture,
    subnet=search_work_dir + '/dms_export/subnet.json',
    checkpoint=search_work_dir + '/dms_export/pruned.pth',
    # True: retrain from freshly initialised weights instead of the searched ones
    reset_params=False,
)

_last_transform = [t for t in _base_.last_transform if t['type'] != 'mmdet.Albu']
train_pipeline = [*_base_.train_pipeline[:-len(_base_.last_transform)], *_last_transform]
train_pipeline_stage2 = [*_base_.train_pipeline_stage2[:-len(_base_.last_transform)],
                         *_last_transform]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, update_buffers=True,
         strict_load=False, priority=49),
    dict(type='mmdet.PipelineSwitchHook',
         switch_epoch=_base_.max_epochs - _base_.close_mosaic_epochs,
         switch_pipeline=train_pipeline_stage2),
]
