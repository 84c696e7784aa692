from .attention_counter import AttentionCounter
from .base_counter import BaseResourceCounter
from .conv_counter import ConvCounter, ConvTransposeCounter, FixedConvCounter
from .linear_counter import LinearCounter
from .norm_counters import BatchNormCounter, GroupNormCounter, LayerNormCounter, LayerScaleCounter
from .output_param_counter import OutputParamCounter

__all__ = [
    'AttentionCounter', 'BaseResourceCounter', 'BatchNormCounter', 'ConvCounter',
    'ConvTransposeCounter', 'FixedConvCounter', 'GroupNormCounter', 'LayerNormCounter',
    'LayerScaleCounter', 'LinearCounter', 'OutputParamCounter'
]
