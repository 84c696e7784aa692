# Retrain the YOLOX-s structure found by dms_yolox-s_search_coco.py with mmdet's own YOLOX-s
# COCO recipe: 300 epochs, its schedulers, its two-stage pipeline and its hooks
# (YOLOXModeSwitchHook, SyncNormHook, EMAHook), all unchanged, since the model is a plain
# YOLOX again. This config therefore inherits mmdet's config, not the search config (whose
# schedule and hooks are the search's). Point it at a search result with
#   --cfg-options model.subnet=DIR/subnet.json model.checkpoint=DIR/pruned.pth
_base_ = ['mmdet::yolox/yolox_s_8xb8-300e_coco.py']
custom_imports = dict(imports=['dms_mm'], allow_failed_imports=False)

architecture = _base_.model
architecture.update(_scope_='mmdet')

search_work_dir = 'work_dirs/dms_yolox-s_search_coco'
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
