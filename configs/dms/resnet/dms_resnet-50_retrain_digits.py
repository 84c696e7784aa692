# Retrain the ResNet-50 structure found by dms_resnet-50_search_digits.py on the digits set,
# from the searched weights. Point it at a search result with
#   --cfg-options model.subnet=DIR/subnet.json model.checkpoint=DIR/pruned.pth
_base_ = ['./dms_resnet-50_search_digits.py']

search_work_dir = 'work_dirs/dms_resnet-50_search_digits'
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
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-5, nesterov=True))
custom_hooks = []
train_cfg = dict(by_epoch=True, max_epochs=12, val_interval=4)
