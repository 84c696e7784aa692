# Retrain the structure found by dms_yolox-s_scaleup_search_coco.py (a YOLOX-s sized model
# searched out of a deeper and wider YOLOX) with mmdet's YOLOX-s recipe. Point it at a search
# result with
#   --cfg-options model.subnet=DIR/subnet.json model.checkpoint=DIR/pruned.pth
_base_ = ['./dms_yolox-s_retrain_coco.py']

search_work_dir = 'work_dirs/dms_yolox-s_scaleup_search_coco'
model = dict(
    # the supernet of the search: the subnet file lists what it keeps of it
    architecture=dict(
        backbone=dict(deepen_factor=0.67, widen_factor=0.75),
        neck=dict(in_channels=[192, 384, 768], out_channels=192),
        bbox_head=dict(in_channels=192, feat_channels=192)),
    subnet=search_work_dir + '/dms_export/subnet.json',
    checkpoint=search_work_dir + '/dms_export/pruned.pth',
)
