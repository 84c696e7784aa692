# Retrain the structure found by dms_yolox-tiny_search_shapes.py on the shapes set, as a plain
# YOLOX with mmdet's YOLOX hooks (mode switch, SyncNorm and EMA) and optimizer, on the search's
# data, pipelines and schedule. Point it at a search result with
#   --cfg-options model.subnet=DIR/subnet.json model.checkpoint=DIR/pruned.pth
_base_ = ['./dms_yolox-tiny_search_shapes.py']

search_work_dir = 'work_dirs/dms_yolox-tiny_search_shapes'
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

# the plain recipe again: no structure parameters, no DMS hooks
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=_base_.base_lr, momentum=0.9, weight_decay=5e-4,
                   nesterov=True),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.))
custom_hooks = [
    dict(type='mmdet.YOLOXModeSwitchHook', num_last_epochs=_base_.num_last_epochs,
         priority=48),
    dict(type='mmdet.SyncNormHook', priority=48),
    dict(type='EMAHook', ema_type='mmdet.ExpMomentumEMA', momentum=0.0001,
         update_buffers=True, priority=49),
]
