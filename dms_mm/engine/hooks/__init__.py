from .architecture_hook import ArchitectureHook
from .dms_export_hook import DMSExportHook
from .dms_plot_hook import DMSPlotHook
from .dms_scheduler_hook import DMSSchedulerHook

__all__ = ['ArchitectureHook', 'DMSExportHook', 'DMSPlotHook', 'DMSSchedulerHook']
