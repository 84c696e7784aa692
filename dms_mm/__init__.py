"""dms_mm: Differentiable Model Scaling for MMEngine and MMRazor.

Importing dms_mm applies the run-time fixes of :mod:`dms_mm.compat` and
registers dms_mm's classes in the OpenMMLab registries; it does nothing else.
"""
from . import compat

compat.apply_all()

# registration: importing the subpackages registers their classes
from . import algorithms, datasets, dynamic_ops, engine, mutables, mutators, ops, resources  # noqa: E402,F401
from .version import __version__  # noqa: E402

__all__ = ['__version__']
