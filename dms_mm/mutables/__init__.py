from .dms_mutables import DMSMutableBlocks, DMSMutableChannel, DMSMutableMixin

__all__ = ['DMSMutableBlocks', 'DMSMutableChannel', 'DMSMutableMixin']
