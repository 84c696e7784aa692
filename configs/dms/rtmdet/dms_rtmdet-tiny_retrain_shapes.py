# Retrain the structure found by dms_rtmdet-tiny_search_shapes.py on the shapes set, as a
# plain RTMDet with mmdet's RTMDet hooks (EMA, pipeline switch) and AdamW recipe, on the
# search's data, pipelines and schedule. Point it at a search result with
#   --cfg-options model.subnet=DIR/subnet.json model.checkpoint=DIR/pruned.pth
_base_ = ['./dms_rtmdet-tiny_search_shapes.py']

search_work_dir = 'work_dirs/dms_rtmdet-tiny_search_shapes'
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
    optimizer=dict(type='AdamW', lr=_base_.base_lr, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True))
custom_hooks = [
    dict(type='EMAHook', ema_type='mmdet.ExpMomentumEMA', momentum=0.0002,
         update_buffers=True, priority=49),
    dict(type='PipelineSwitchHook', switch_epoch=_base_.max_epochs - _base_.stage2_num_epochs,
         switch_pipeline=_base_.train_pipeline_stage2),
]
