# Retrain the EfficientNet-B0 structure found by dms_efficientnet-b0_search_in1k.py, with
# mmpretrain's own EfficientNet-B0 ImageNet recipe. Point it at a search result with
#   --cfg-options model.subnet=DIR/subnet.json model.checkpoint=DIR/pruned.pth
_base_ = ['./dms_efficientnet-b0_search_in1k.py']

search_work_dir = 'work_dirs/dms_efficientnet-b0_search_in1k'
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
optim_wrapper = dict(_delete_=True, optimizer=dict(type='SGD', lr=0.1, momentum=0.9,
                                                   weight_decay=0.0001))
custom_hooks = []
train_cfg = dict(max_epochs=100)
