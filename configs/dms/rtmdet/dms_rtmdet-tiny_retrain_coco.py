# Retrain the RTMDet-tiny structure found by dms_rtmdet-tiny_search_coco.py with mmdet's own
# RTMDet-tiny COCO recipe: 300 epochs, its AdamW and schedulers, its two-stage pipeline and
# its hooks (EMAHook, PipelineSwitchHook), all unchanged, since the model is a plain RTMDet
# again. This config therefore inherits mmdet's config, not the search config (whose
# schedule and hooks are the search's). Point it at a search result with
#   --cfg-options model.subnet=DIR/subnet.json model.checkpoint=DIR/pruned.pth
_base_ = ['mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py']
custom_imports = dict(imports=['dms_mm'], allow_failed_imports=False)

architecture = _base_.model
architecture.update(_scope_='mmdet')
# the searched weights (model.checkpoint) replace any initialisation: no ImageNet download
architecture.backbone.init_cfg = None

search_work_dir = 'work_dirs/dms_rtmdet-tiny_search_coco'
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
