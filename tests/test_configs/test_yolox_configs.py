"""The YOLOX configs at full scale: mmdet's YOLOX-s on COCO wrapped in DMS, its retrain,
and the scale-up search (a larger YOLOX searched down to YOLOX-s's FLOPs)."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmrazor.registry import HOOKS, MODELS

from dms_mm.structures import build_subnet
from dms_test_utils import randomize_structure

SEARCH = 'configs/dms/yolox/dms_yolox-s_search_coco.py'
RETRAIN = 'configs/dms/yolox/dms_yolox-s_retrain_coco.py'
SCALEUP = 'configs/dms/yolox/dms_yolox-s_scaleup_search_coco.py'
SCALEUP_RETRAIN = 'configs/dms/yolox/dms_yolox-s_scaleup_retrain_coco.py'


def _config(repo_root, path):
    return Config.fromfile(osp.join(repo_root, path))


def _build(cfg):
    # a copy: mmdet's detectors write train_cfg/test_cfg into the head config they get
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        return MODELS.build(copy.deepcopy(cfg.model))


@pytest.fixture(scope='module')
def base(repo_root):
    cfg = _config(repo_root, SEARCH)
    return cfg, _build(cfg)


def _hook_types(hooks):
    return [h['hook']['type'] if h['type'] == 'mmrazor.ArchitectureHook' else h['type']
            for h in hooks]


def test_coco_search_wraps_mmdet_yolox_s_with_its_data_and_hooks(base):
    cfg, algorithm = base
    architecture = cfg.model.architecture
    assert cfg.model.type == 'DMSAlgorithm' and architecture.type == 'YOLOX'
    assert (architecture.backbone.deepen_factor, architecture.backbone.widen_factor) == \
        (0.33, 0.5)
    assert architecture.data_preprocessor.batch_augments[0].type == 'BatchSyncRandomResize'
    train = cfg.train_dataloader.dataset
    assert train.type == 'MultiImageMixDataset' and train.dataset.data_root == 'data/coco/'
    assert [t.type for t in train.pipeline][:3] == ['Mosaic', 'RandomAffine', 'MixUp']
    assert cfg.val_evaluator.ann_file == 'data/coco/annotations/instances_val2017.json'
    assert _hook_types(cfg.custom_hooks) == [
        'mmdet.YOLOXModeSwitchHook', 'mmdet.SyncNormHook', 'mmrazor.DMSSchedulerHook',
        'mmrazor.DMSExportHook', 'mmrazor.DMSPlotHook']
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        for hook in cfg.custom_hooks:
            hook = dict(hook)
            hook.pop('priority', None)  # as the runner does
            HOOKS.build(hook)
    mutator = algorithm.mutator
    assert mutator.demo_input_shape == (1, 3, 640, 640)
    assert mutator.stage_names == [f'backbone.stage{i}.1.blocks' for i in (1, 2, 3)]
    assert mutator.stage_report_removable() == [[0], [0, 1, 2], [0, 1, 2]]
    parts = {u.name.split('.')[0] for u in mutator.searchable_units}
    assert parts == {'backbone', 'neck', 'bbox_head'} and not mutator.excluded_units
    assert algorithm.final_target_ratio == 0.5


def test_scale_up_supernet_is_larger_and_is_searched_down_to_the_base_flops(base, repo_root):
    _, base_algorithm = base
    cfg = _config(repo_root, SCALEUP)
    algorithm = _build(cfg)
    base_flops = base_algorithm.mutator.supernet_flops
    # the absolute target of the config is the FLOPs of YOLOX-s at the same input
    assert cfg.model.target_flops == pytest.approx(base_flops, rel=1e-6)
    assert algorithm.mutator.supernet_flops > 2.5 * base_flops
    assert algorithm.mutator.supernet_params > 2.5 * base_algorithm.mutator.supernet_params
    assert algorithm.final_target_ratio == pytest.approx(
        base_flops / algorithm.mutator.supernet_flops)
    # twice the blocks of YOLOX-s to choose from
    assert algorithm.mutator.stage_report_removable() == \
        [list(range(2)), list(range(6)), list(range(6))]
    retrain = _config(repo_root, SCALEUP_RETRAIN)
    assert retrain.model.architecture.to_dict() == cfg.model.architecture.to_dict()


def test_retrain_is_mmdet_recipe_on_the_searched_structure(base, repo_root):
    search_cfg, algorithm = base
    cfg = _config(repo_root, RETRAIN)
    assert cfg.model.type == 'DMSSubModel'
    assert cfg.model.architecture.to_dict() == search_cfg.model.architecture.to_dict()
    assert cfg.train_cfg.max_epochs == 300
    assert [h.type for h in cfg.custom_hooks] == \
        ['YOLOXModeSwitchHook', 'SyncNormHook', 'EMAHook']
    mutator = algorithm.mutator
    randomize_structure(mutator, seed=2)
    subnet = build_subnet(mutator, cfg.model.architecture, 0.5)
    subnet['demo_input'] = [1, 3, 128, 128]  # the structure does not depend on it; faster
    subnet['mutator'] = dict(parse_cfg=dict(type='ChannelAnalyzer', tracer_type='FxTracer'),
                             depth=dict(mutator.depth_cfg, exclude=[]))
    model_cfg = dict(cfg.model.to_dict(), subnet=subnet, checkpoint=None)
    with DefaultScope.overwrite_default_scope(cfg.default_scope):
        model = MODELS.build(model_cfg)
    assert type(model).__name__ == 'YOLOX'
    kept = sum(len(m.kept_indices()) for m in mutator.stages)
    assert sum(len(model.get_submodule(name)) for name in mutator.stage_names) == kept
    assert sum(p.numel() for p in model.parameters()) == \
        pytest.approx(float(mutator.soft_resources()['params']))
    with torch.no_grad():
        model.eval()(torch.rand(1, 3, 64, 64))
