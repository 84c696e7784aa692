"""Soft resource counts of DMS in one place: a counter per op type
(:mod:`.counters`, registered in :data:`~dms_mm.registry.RESOURCE_COUNTERS`),
the widths they read (:class:`Width`), each mutable's straight-through count
of a step (:class:`MutableCounts`), and their sum over a model
(:class:`SoftResourceEstimator`); the latency of a model from a table measured
on the device (:class:`LatencyTable`, :class:`SoftLatencyEstimator`), and the
widths the device runs fastest (:func:`measure_width_multiples`)."""
from .counters import (
    AttentionCounter,
    BaseResourceCounter,
    BatchNormCounter,
    ConvCounter,
    ConvTransposeCounter,
    FixedConvCounter,
    FunctionalOpCounter,
    GroupNormCounter,
    LayerNormCounter,
    LayerScaleCounter,
    LinearCounter,
    ModuleParamsCounter,
    OutputParamCounter,
)
from .estimator import RESOURCE_KINDS, SoftResourceEstimator, counter_type
from .functional_ops import FunctionalCall, record_functional_ops, sdpa_flop_jit
from .latency_estimator import SoftLatencyEstimator
from .latency_table import LatencyTable, LatencyTableError
from .mutable_counts import MutableCounts
from .width import Width
from .width_multiples import divisor_gains, measure_width_multiples, preferred_divisor

__all__ = [
    'AttentionCounter', 'BaseResourceCounter', 'BatchNormCounter', 'ConvCounter',
    'ConvTransposeCounter', 'FixedConvCounter', 'FunctionalCall', 'FunctionalOpCounter',
    'GroupNormCounter', 'LayerNormCounter', 'LayerScaleCounter', 'LinearCounter',
    'ModuleParamsCounter', 'MutableCounts', 'OutputParamCounter',
    'LatencyTable', 'LatencyTableError', 'RESOURCE_KINDS', 'SoftLatencyEstimator',
    'SoftResourceEstimator', 'Width', 'counter_type', 'divisor_gains',
    'measure_width_multiples', 'preferred_divisor', 'record_functional_ops', 'sdpa_flop_jit'
]
