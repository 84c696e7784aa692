# Retrain the structure found by dms_deit-tiny_search_digits.py on the digits set,
# from the searched weights. Point it at another search with
#   --cfg-options model.subnet=DIR/subnet.json model.checkpoint=DIR/pruned.pth
_base_ = ['./dms_deit-tiny_search_digits.py']

search_work_dir = 'work_dirs/dms_deit-tiny_search_digits'
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='DMSSubModel',
    architecture=_base_.model.architecture,
    subnet=search_work_dir + '/dms_export/subnet.json',
    checkpoint=search_work_dir + '/dms_export/pruned.pth',
    reset_params=False,
)

optim_wrapper = dict(
    constructor='DefaultOptimWrapperConstructor',
    paramwise_cfg=dict(
        _delete_=True,
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys={'.cls_token': dict(decay_mult=0.0), '.pos_embed': dict(decay_mult=0.0)}))
custom_hooks = []
train_cfg = dict(by_epoch=True, max_epochs=10, val_interval=5)
