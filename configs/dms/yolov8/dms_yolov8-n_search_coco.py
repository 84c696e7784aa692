# DMS search of mmyolo's YOLOv8-n on COCO (data/coco, the standard mmdet layout), down to
# half of its FLOPs at 640x640. The model, data pipelines (Mosaic and YOLOv5RandomAffine,
# then the plain last epochs), optimizer grouping, parameter scheduler and runtime come
# from mmyolo's own config; this file wraps the model in DMS and shortens the schedule to
# a search. It is also the base of the scale-up search (dms_yolov8-n_scaleup_search_coco.py).
#
# What DMS searches (`python tools/dms_summary.py THIS_CONFIG` prints it):
# - width: every coupled-channel unit of the backbone (YOLOv8CSPDarknet), the neck
#   (YOLOv8PAFPN) and the head; inside each C2f (CSPLayerWithTwoConv) the two halves of its
#   split, the stream its blocks run on, each block's hidden width, and the slices of the
#   concatenation into final_conv (dms_mm/mutators/c2f_family.py); the class outputs and
#   the box distribution outputs keep their width;
# - depth: the DarknetBottleneck blocks of the backbone's C2f (they add their input);
#   a removed block's slice of the concatenation is folded into final_conv at export. The
#   neck's C2f blocks have no shortcut and stay.
#
# Deviation from mmyolo's recipe: its last transform mmdet.Albu (blur, median blur, gray,
# CLAHE, each with p=0.01) needs albumentations, which is not in the pinned stack
# (albumentations 2.x pulls numpy 2.4); it is left out of both training pipelines.
_base_ = ['mmyolo::yolov8/yolov8_n_syncbn_fast_8xb16-500e_coco.py']
custom_imports = dict(imports=['dms_mm'], allow_failed_imports=False)

architecture = _base_.model
architecture.update(_scope_='mmyolo')

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='DMSAlgorithm',
    # the YOLOv8 model with its YOLOv5DetDataPreprocessor; FLOPs are counted at demo_input
    architecture=architecture,
    mutator=dict(
        type='DMSMutator',
        channel_unit_cfg=dict(
            type='DMSChannelUnit',
            default_args=dict(group_size=1, min_keep=0.05, lambda_scale=1.0)),
        parse_cfg=dict(
            type='ChannelAnalyzer', demo_input=(1, 3, 640, 640), tracer_type='FxTracer'),
        depth=dict(enabled=True, lambda_scale=4.0)),
    target_flops_ratio=0.5,
    loss_type='log',
    # mmyolo's YOLOv8 losses are multiplied by the images of the step on all GPUs (16 x 8
    # in its 8xb16 recipe), so the resource loss is weighted alike to pull as it does
    # beside the per-image losses of YOLOX (weight 1). Scale it with your batch and GPUs.
    loss_weight=128.0,
    two_sided=True,
)

# mmyolo's pipelines without mmdet.Albu (see above)
_last_transform = [t for t in _base_.last_transform if t['type'] != 'mmdet.Albu']
train_pipeline = [*_base_.train_pipeline[:-len(_base_.last_transform)], *_last_transform]
train_pipeline_stage2 = [*_base_.train_pipeline_stage2[:-len(_base_.last_transform)],
                         *_last_transform]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# mmyolo's optimizer grouping (conv weights with decay, norm weights, biases: its
# YOLOv5ParamSchedulerHook warms up group 2 as the biases), plus the structure parameters
# (every parameter under `mutator`, which mmyolo's constructor would leave out) in a fourth
# group with a constant learning rate; gradient clipping leaves that group out.
optim_wrapper = dict(
    constructor='mmrazor.DMSOptimWrapperConstructor',
    base_constructor='mmyolo.YOLOv5OptimizerConstructor',
    paramwise_cfg=dict(base_total_batch_size=64,
                       custom_keys={'mutator': dict(lr=5e-3, decay_mult=0.0)}))

# A DMS search is 30 epochs (the paper's), mmyolo's linear schedule over them, the last
# 2 epochs without Mosaic.
max_epochs = 30
close_mosaic_epochs = 2
train_cfg = dict(max_epochs=max_epochs, val_interval=5,
                 dynamic_intervals=[(max_epochs - close_mosaic_epochs, 1)])
default_hooks = dict(
    param_scheduler=dict(max_epochs=max_epochs),
    checkpoint=dict(interval=5, max_keep_ckpts=3, save_best=None))

# mmyolo's hooks under DMS:
# - PipelineSwitchHook switches the dataset's pipeline off Mosaic for the last epochs;
#   it reads the train loop's dataset, not the model: unchanged.
# - YOLOv5ParamSchedulerHook sets every group's lr and momentum; DMSSchedulerHook puts
#   the structure group's lr back before each step.
# - EMAHook is left out of the search: it averages every parameter and buffer of
#   runner.model, which here include the keep ratios and importances of the structure.
#   The retrain config (a plain YOLOv8) has it back.
custom_hooks = [
    dict(type='mmdet.PipelineSwitchHook', switch_epoch=max_epochs - close_mosaic_epochs,
         switch_pipeline=train_pipeline_stage2),
    dict(type='mmrazor.DMSSchedulerHook', schedule='root', decay_ratio=0.8, refine_ratio=0.2),
    # at the end: WORK_DIR/dms_export/subnet.json and pruned.pth
    dict(type='mmrazor.DMSExportHook', out_dir='dms_export'),
    # at the end: WORK_DIR/search_curve.png and structure.png
    dict(type='mmrazor.DMSPlotHook'),
]
