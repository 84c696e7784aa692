from .dms_algorithm import DMSAlgorithm, schedule_value

__all__ = ['DMSAlgorithm', 'schedule_value']
