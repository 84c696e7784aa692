"""dms_mm: Differentiable Model Scaling for MMEngine and MMRazor.

Importing dms_mm applies the run-time fixes of :mod:`dms_mm.compat` and
registers dms_mm's classes in the OpenMMLab registries; it does nothing else.
"""
from . import compat

compat.apply_all()

from . import datasets  # noqa: E402,F401  (registers DigitsDataset)
from .version import __version__  # noqa: E402

__all__ = ['__version__']
