from .dms_fsdp_strategy import DMSFSDPStrategy, full_parameters

__all__ = ['DMSFSDPStrategy', 'full_parameters']
