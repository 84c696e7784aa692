from .channel_analyzer import DMSChannelAnalyzer
from .channel_unit import DMSChannelUnit
from .dms_mutator import DMSMutator
from .eva02_family import ViTEVA02Family
from .swin_family import SwinTransformerFamily
from .twins_family import (
    ConditionalPositionEncodingFamily,
    GlobalSubsampledAttentionFamily,
    LocallyGroupedAttentionFamily,
)

__all__ = [
    'ConditionalPositionEncodingFamily', 'DMSChannelAnalyzer', 'DMSChannelUnit', 'DMSMutator',
    'GlobalSubsampledAttentionFamily', 'LocallyGroupedAttentionFamily', 'SwinTransformerFamily',
    'ViTEVA02Family'
]
