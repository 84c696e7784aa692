# Scaling up with DMS: search a YOLOX larger than YOLOX-s, with twice its depth and 1.5 times
# its width (mmdet's YOLOX-m factors, deepen 0.67 and widen 0.75), down to the FLOPs of
# YOLOX-s itself. DMS then decides where the base model's budget goes, instead of the
# uniform deepen/widen factors. Everything else is dms_yolox-s_search_coco.py.
_base_ = ['./dms_yolox-s_search_coco.py']

# The FLOPs of mmdet's YOLOX-s at 640x640, the supernet FLOPs that
#   python tools/dms_summary.py configs/dms/yolox/dms_yolox-s_search_coco.py
# prints (13403.70 MFLOPs: multiply-accumulates of the conv layers, the BatchNorms and the
# neck's two nearest upsamplings, the conventions of mmengine's counter, which gives the
# same). It is counted at the mutator's demo_input: change both together.
# tests/test_configs/test_yolox_configs.py checks it against the base model.
yolox_s_flops = 13403699200

model = dict(
    architecture=dict(
        backbone=dict(deepen_factor=0.67, widen_factor=0.75),
        # the neck keeps YOLOX-s's one bottleneck per CSP layer: its bottlenecks have no
        # skip (add_identity=False), so DMS could not remove the extra ones
        neck=dict(in_channels=[192, 384, 768], out_channels=192),
        bbox_head=dict(in_channels=192, feat_channels=192)),
    target_flops_ratio=None,
    target_flops=yolox_s_flops,
)
