from .hooks import ArchitectureHook, DMSExportHook, DMSPlotHook, DMSSchedulerHook
from .optimizers import DMSOptimWrapperConstructor

__all__ = [
    'ArchitectureHook', 'DMSExportHook', 'DMSOptimWrapperConstructor', 'DMSPlotHook',
    'DMSSchedulerHook'
]
