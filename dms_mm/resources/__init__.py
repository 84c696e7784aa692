"""Soft resource counts of DMS in one place: a counter per op type
(:mod:`.counters`, registered in :data:`~dms_mm.registry.RESOURCE_COUNTERS`),
the widths they read (:class:`Width`), each mutable's straight-through count
of a step (:class:`MutableCounts`), and their sum over a model
(:class:`SoftResourceEstimator`)."""
from .counters import (
    AttentionCounter,
    BaseResourceCounter,
    BatchNormCounter,
    ConvCounter,
    LayerNormCounter,
    LinearCounter,
    OutputParamCounter,
)
from .estimator import RESOURCE_KINDS, SoftResourceEstimator, counter_type
from .mutable_counts import MutableCounts
from .width import Width

__all__ = [
    'AttentionCounter', 'BaseResourceCounter', 'BatchNormCounter', 'ConvCounter',
    'LayerNormCounter', 'LinearCounter', 'MutableCounts', 'OutputParamCounter',
    'RESOURCE_KINDS', 'SoftResourceEstimator', 'Width', 'counter_type'
]
