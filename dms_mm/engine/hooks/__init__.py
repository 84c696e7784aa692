from .dms_export_hook import DMSExportHook
from .dms_scheduler_hook import DMSSchedulerHook

__all__ = ['DMSExportHook', 'DMSSchedulerHook']
