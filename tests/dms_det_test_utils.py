"""Shared test helpers for mmdet detectors under DMS: the models of the shipped tiny
configs (YOLOX and RTMDet-tiny on the generated shapes set)."""
import os.path as osp

from mmdet.registry import MODELS as DET_MODELS
from mmengine.config import Config
from mmengine.registry import DefaultScope

import dms_mm  # noqa: F401
from dms_mm.mutators import DMSMutator

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_YOLOX = 'configs/dms/yolox/dms_yolox-tiny_search_shapes.py'
TINY_RTMDET = 'configs/dms/rtmdet/dms_rtmdet-tiny_search_shapes.py'


def tiny_architecture(config: str = TINY_YOLOX) -> dict:
    """The detector config of a shipped tiny search config."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, config))
    return cfg.model.architecture.to_dict()


def build_detector(architecture: dict):
    architecture = dict(architecture)
    architecture.pop('_scope_', None)
    # a scope for this build only: other tests build from mmrazor's registries
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DET_MODELS.build(architecture)


def dms_detector(config: str, size: int = 128):
    """The detector of ``config``, prepared by a DMSMutator at ``size`` x ``size``."""
    model = build_detector(tiny_architecture(config))
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, size, size),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    return model, mutator


def dms_yolox(size: int = 128):
    return dms_detector(TINY_YOLOX, size)


def dms_rtmdet(size: int = 128):
    return dms_detector(TINY_RTMDET, size)


def flat_outputs(outputs):
    """A detector's tensor outputs (maps per level), flattened."""
    return [t for level_outputs in outputs for t in level_outputs]


def max_relative_error(expected, got) -> float:
    return max(float((g - e).norm() / e.norm().clamp_min(1e-12))
               for e, g in zip(flat_outputs(expected), flat_outputs(got)))
