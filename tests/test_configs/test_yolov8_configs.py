"""The YOLOv8 configs at full scale: mmyolo's YOLOv8-n recipe on COCO wrapped in DMS,
and the paper's scale-up search (YOLOv8 at deepen/widen 0.5 down to YOLOv8-n's FLOPs)
with its retrain."""
import copy
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.registry import DefaultScope
from mmrazor.registry import MODELS

from dms_mm.structures import count_static

SEARCH = 'configs/dms/yolov8/dms_yolov8-n_search_coco.py'
SCALEUP = 'configs/dms/yolov8/dms_yolov8-n_scaleup_search_coco.py'
SCALEUP_RETRAIN = 'configs/dms/yolov8/dms_yolov8-n_scaleup_retrain_coco.py'


def _config(repo_root, path):
    return Config.fromfile(osp.join(repo_root, path))


def test_coco_search_keeps_mmyolo_recipe_but_albu(repo_root):
    cfg = _config(repo_root, SEARCH)
    mmyolo = get_config('mmyolo::yolov8/yolov8_n_syncbn_fast_8xb16-500e_coco.py')
    assert cfg.model.type == 'DMSAlgorithm' and cfg.model.architecture.type == 'YOLODetector'
    assert cfg.model.architecture.to_dict() == dict(mmyolo.model.to_dict(), _scope_='mmyolo')
    steps = [t.type for t in cfg.train_dataloader.dataset.pipeline]
    assert steps == [t.type for t in mmyolo.train_pipeline if t.type != 'mmdet.Albu']
    assert cfg.optim_wrapper.base_constructor == 'mmyolo.YOLOv5OptimizerConstructor'
    assert cfg.optim_wrapper.optimizer.to_dict() == mmyolo.optim_wrapper.optimizer.to_dict()
    assert cfg.default_hooks.param_scheduler.type == 'YOLOv5ParamSchedulerHook'
    assert cfg.default_hooks.param_scheduler.max_epochs == cfg.train_cfg.max_epochs == 30
    switch, *dms = cfg.custom_hooks
    assert switch.type == 'mmdet.PipelineSwitchHook' and switch.switch_epoch == 28
    assert 'mmdet.Albu' not in [t.type for t in switch.switch_pipeline]
    assert [h.type for h in dms] == ['mmrazor.DMSSchedulerHook', 'mmrazor.DMSExportHook',
                                     'mmrazor.DMSPlotHook']  # no EMA during the search


def test_scale_up_searches_a_larger_yolov8_down_to_yolov8_n(repo_root):
    cfg = _config(repo_root, SCALEUP)
    mmyolo = get_config('mmyolo::yolov8/yolov8_n_syncbn_fast_8xb16-500e_coco.py')
    with DefaultScope.overwrite_default_scope('mmyolo'):
        yolov8_n = MODELS.build(copy.deepcopy(mmyolo.model))
    # the target is YOLOv8-n's FLOPs at the search's input (the paper: 4.4G)
    flops, _ = count_static(yolov8_n, (1, 3, 640, 640))
    assert cfg.model.target_flops == flops
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        algorithm = MODELS.build(copy.deepcopy(cfg.model))
    mutator = algorithm.mutator
    assert mutator.supernet_flops > 2 * flops
    assert algorithm.final_target_ratio == pytest.approx(flops / mutator.supernet_flops)
    # deepen 0.5: the backbone's C2f hold 2, 3, 3 and 2 blocks with shortcuts to remove
    assert mutator.stage_names == [f'backbone.stage{i}.1.blocks' for i in (1, 2, 3, 4)]
    assert mutator.stage_report_removable()[:4] == [[0, 1], [0, 1, 2], [0, 1, 2], [0, 1]]
    parts = {u.name.split('.')[0] for u in mutator.searchable_units}
    assert parts == {'backbone', 'neck', 'bbox_head'}
    retrain = _config(repo_root, SCALEUP_RETRAIN)
    assert retrain.model.type == 'DMSSubModel' and retrain.train_cfg.max_epochs == 500
    assert retrain.model.architecture.to_dict() == cfg.model.architecture.to_dict()
    assert [h.type for h in retrain.custom_hooks] == ['EMAHook', 'mmdet.PipelineSwitchHook']
