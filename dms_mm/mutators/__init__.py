from .channel_analyzer import DMSChannelAnalyzer
from .channel_unit import DMSChannelUnit
from .dms_mutator import DMSMutator

__all__ = ['DMSChannelAnalyzer', 'DMSChannelUnit', 'DMSMutator']
