from .attention_counter import AttentionCounter
from .base_counter import BaseResourceCounter
from .conv_counter import ConvCounter, ConvTransposeCounter, FixedConvCounter
from .embedding_counter import EmbeddingCounter
from .functional_counter import FunctionalOpCounter
from .linear_counter import LinearCounter
from .module_params_counter import ModuleParamsCounter
from .norm_counters import (
    BatchNormCounter,
    GroupNormCounter,
    LayerNormCounter,
    LayerScaleCounter,
)
from .output_param_counter import OutputParamCounter

__all__ = [
    'AttentionCounter', 'BaseResourceCounter', 'BatchNormCounter', 'ConvCounter',
    'ConvTransposeCounter', 'EmbeddingCounter', 'FixedConvCounter', 'FunctionalOpCounter',
    'GroupNormCounter', 'LayerNormCounter', 'LayerScaleCounter', 'LinearCounter',
    'ModuleParamsCounter', 'OutputParamCounter'
]
