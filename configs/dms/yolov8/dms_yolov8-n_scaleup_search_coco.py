# The paper's YOLOv8 search (Table 9): scaling up with DMS. Search a YOLOv8 with mmyolo's
# deepen/widen factors 0.5/0.5 (YOLOv8-n is 0.33/0.25) down to the FLOPs of YOLOv8-n
# itself, for 30 epochs with YOLOv8-n's recipe; DMS then decides where YOLOv8-n's budget
# goes, instead of the uniform deepen/widen factors. Everything else is
# dms_yolov8-n_search_coco.py. Retrain the result with dms_yolov8-n_scaleup_retrain_coco.py.
_base_ = ['./dms_yolov8-n_search_coco.py']

deepen_factor = 0.5
widen_factor = 0.5

# The FLOPs of mmyolo's YOLOv8-n at 640x640, the supernet FLOPs that
#   python tools/dms_summary.py configs/dms/yolov8/dms_yolov8-n_search_coco.py
# prints (4401.00 MFLOPs: multiply-accumulates of the convolutions, the BatchNorms and the
# neck's two nearest upsamplings, mmengine's conventions; the paper gives 4.4G). It is
# counted at the mutator's demo_input: change both together.
# tests/test_configs/test_yolov8_configs.py checks it against the base model.
yolov8_n_flops = 4400998400

model = dict(
    architecture=dict(
        backbone=dict(deepen_factor=deepen_factor, widen_factor=widen_factor),
        neck=dict(deepen_factor=deepen_factor, widen_factor=widen_factor),
        bbox_head=dict(head_module=dict(widen_factor=widen_factor))),
    target_flops_ratio=None,
    target_flops=yolov8_n_flops,
)
