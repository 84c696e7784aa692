from .dms_optim_constructor import DMSOptimWrapperConstructor, restore_fixed_lrs

__all__ = ['DMSOptimWrapperConstructor', 'restore_fixed_lrs']
