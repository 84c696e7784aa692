"""Shared test helpers for mmdet's YOLOX under DMS: the model of the shipped tiny config."""
import os.path as osp

from mmdet.registry import MODELS as DET_MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope

import dms_mm  # noqa: F401
from dms_mm.mutators import DMSMutator

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_SEARCH = 'configs/dms/yolox/dms_yolox-tiny_search_shapes.py'


def tiny_architecture() -> dict:
    """The YOLOX architecture config of the shipped tiny search config."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, TINY_SEARCH))
    return cfg.model.architecture.to_dict()


def build_yolox(architecture: dict):
    # a scope for this build only: other tests build from mmrazor's registries
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DET_MODELS.build(architecture)


def dms_yolox(size: int = 128):
    """The tiny YOLOX, prepared by a DMSMutator at ``size`` x ``size``."""
    model = build_yolox(tiny_architecture())
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, size, size),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    return model, mutator


def flat_outputs(outputs):
    """YOLOX's tensor outputs (class, box, objectness maps per level), flattened."""
    return [t for level_outputs in outputs for t in level_outputs]


def max_relative_error(expected, got) -> float:
    return max(float((g - e).norm() / e.norm().clamp_min(1e-12))
               for e, g in zip(flat_outputs(expected), flat_outputs(got)))

