from .hooks import DMSSchedulerHook
from .optimizers import DMSOptimWrapperConstructor

__all__ = ['DMSOptimWrapperConstructor', 'DMSSchedulerHook']
