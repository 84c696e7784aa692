from .hooks import DMSExportHook, DMSPlotHook, DMSSchedulerHook
from .optimizers import DMSOptimWrapperConstructor

__all__ = ['DMSExportHook', 'DMSOptimWrapperConstructor', 'DMSPlotHook', 'DMSSchedulerHook']
