"""A user's own package: registers a small backbone that dms_mm has never seen."""
from .tiny_net import CheckedResBlock, PlainResBlock, TinyNet

__all__ = ['CheckedResBlock', 'PlainResBlock', 'TinyNet']
