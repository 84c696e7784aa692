from .hooks import ArchitectureHook, ChannelsLastHook, DMSExportHook, DMSPlotHook, DMSSchedulerHook
from .optimizers import DMSOptimWrapperConstructor
from .strategies import DMSFSDPStrategy, full_parameters

__all__ = [
    'ArchitectureHook', 'ChannelsLastHook', 'DMSExportHook', 'DMSFSDPStrategy',
    'DMSOptimWrapperConstructor', 'DMSPlotHook', 'DMSSchedulerHook', 'full_parameters'
]
