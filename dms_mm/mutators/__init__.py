import importlib.util

from .channel_analyzer import DMSChannelAnalyzer
from .channel_unit import DMSChannelUnit
from .dms_mutator import DMSMutator
from .eva02_family import ViTEVA02Family
from .mlp_mixer_family import MlpMixerFamily
from .swin_family import SwinTransformerFamily
from .twins_family import (
    ConditionalPositionEncodingFamily,
    GlobalSubsampledAttentionFamily,
    LocallyGroupedAttentionFamily,
)

__all__ = [
    'ConditionalPositionEncodingFamily', 'DMSChannelAnalyzer', 'DMSChannelUnit', 'DMSMutator',
    'GlobalSubsampledAttentionFamily', 'LocallyGroupedAttentionFamily', 'MlpMixerFamily',
    'SwinTransformerFamily', 'ViTEVA02Family'
]

if importlib.util.find_spec('mmyolo') is not None:  # YOLOv8's C2f
    from .c2f_family import C2fFamily  # noqa: F401
    __all__.append('C2fFamily')

if importlib.util.find_spec('transformers') is not None:  # Llama
    from .llama_family import LlamaFamily  # noqa: F401
    __all__.append('LlamaFamily')
