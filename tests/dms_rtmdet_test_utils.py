"""Shared test helpers for mmdet's RTMDet under DMS: the model of the shipped tiny config."""
import os.path as osp

from mmdet.registry import MODELS as DET_MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope

import dms_mm  # noqa: F401
from dms_mm.mutators import DMSMutator

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_SEARCH = 'configs/dms/rtmdet/dms_rtmdet-tiny_search_shapes.py'


def tiny_architecture() -> dict:
    """The RTMDet-tiny architecture config of the shipped shapes search config."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, TINY_SEARCH))
    return cfg.model.architecture.to_dict()


def build_rtmdet(architecture: dict = None):
    architecture = dict(architecture or tiny_architecture())
    architecture.pop('_scope_', None)
    # a scope for this build only: other tests build from mmrazor's registries
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DET_MODELS.build(architecture)


def dms_rtmdet(size: int = 128):
    """The tiny RTMDet, prepared by a DMSMutator at ``size`` x ``size``."""
    model = build_rtmdet()
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, size, size),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    return model, mutator


def flat_outputs(outputs):
    """RTMDet's tensor outputs (class and box maps per level), flattened."""
    return [t for level_outputs in outputs for t in level_outputs]


def max_relative_error(expected, got) -> float:
    return max(float((g - e).norm() / e.norm().clamp_min(1e-12))
               for e, g in zip(flat_outputs(expected), flat_outputs(got)))
