from .hooks import ArchitectureHook, ChannelsLastHook, DMSExportHook, DMSPlotHook, DMSSchedulerHook
from .optimizers import DMSOptimWrapperConstructor

__all__ = [
    'ArchitectureHook', 'ChannelsLastHook', 'DMSExportHook', 'DMSOptimWrapperConstructor',
    'DMSPlotHook', 'DMSSchedulerHook'
]
