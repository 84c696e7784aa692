from .dms_scheduler_hook import DMSSchedulerHook

__all__ = ['DMSSchedulerHook']
