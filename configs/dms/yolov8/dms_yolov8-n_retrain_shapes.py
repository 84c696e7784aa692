# Retrain the structure found by dms_yolov8-n_search_shapes.py on the shapes set, as a
# plain YOLOv8 with mmyolo's optimizer grouping, YOLOv5ParamSchedulerHook and hooks (EMA
# and the pipeline switch), on the search's data, pipelines and schedule. Point it at a
# search result with
#   --cfg-options model.subnet=DIR/subnet.json model.checkpoint=DIR/pruned.pth
_base_ = ['./dms_yolov8-n_search_shapes.py']

search_work_dir = 'work_dirs/dms_yolov8-n_search_shapes'
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='DMSSubModel',
    architecture=_base_.model.architecture,
    subnet=search_work_dir + '/dms_export/subnet.json',
    checkpoint=search_work_dir + '/dms_export/pruned.pth',
    # True: retrain from freshly initialised weights instead of the searched ones
    reset_params=False,
)

# the plain recipe again: mmyolo's grouping, no structure parameters, no DMS hooks
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    clip_grad=dict(max_norm=10.0),
    optimizer=dict(type='SGD', lr=_base_.base_lr, momentum=0.937,
                   weight_decay=_base_.weight_decay, nesterov=True, batch_size_per_gpu=16),
    constructor='YOLOv5OptimizerConstructor')
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, update_buffers=True,
         strict_load=False, priority=49),
    dict(type='mmdet.PipelineSwitchHook',
         switch_epoch=_base_.max_epochs - _base_.close_mosaic_epochs,
         switch_pipeline=_base_.train_pipeline_stage2),
]
