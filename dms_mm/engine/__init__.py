from .hooks import DMSExportHook, DMSSchedulerHook
from .optimizers import DMSOptimWrapperConstructor

__all__ = ['DMSExportHook', 'DMSOptimWrapperConstructor', 'DMSSchedulerHook']
