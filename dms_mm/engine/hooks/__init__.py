from .architecture_hook import ArchitectureHook
from .channels_last_hook import ChannelsLastHook
from .dms_export_hook import DMSExportHook
from .dms_plot_hook import DMSPlotHook
from .dms_scheduler_hook import DMSSchedulerHook

__all__ = [
    'ArchitectureHook', 'ChannelsLastHook', 'DMSExportHook', 'DMSPlotHook', 'DMSSchedulerHook'
]
