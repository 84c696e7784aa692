# Retrain (or finetune) a structure of the glyphs supernet: one found by
# dms_resnet18-w16_search_glyphs.py, or any subnet.json of the same architecture
# (benchmarks/compare.py writes uniform, random, Torch-Pruning and mmrazor ones too).
# Point it at a result with
#   --cfg-options model.subnet=DIR/subnet.json model.checkpoint=DIR/pruned.pth
_base_ = ['./dms_resnet18-w16_search_glyphs.py']

search_work_dir = 'work_dirs/dms_resnet18-w16_search_glyphs'
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
# the supernet's optimizer, without the structure parameters' group of the search
optim_wrapper = dict(_delete_=True, optimizer=_base_.optim_wrapper.optimizer)
custom_hooks = [dict(type='mmrazor.ChannelsLastHook')]
