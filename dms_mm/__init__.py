"""dms_mm: Differentiable Model Scaling for MMEngine and MMRazor.

Importing dms_mm applies the run-time fixes of :mod:`dms_mm.compat` and
registers dms_mm's classes in the OpenMMLab registries; it does nothing else.
"""
from . import compat

compat.apply_all()

# registration: importing the subpackages registers their classes
from . import (  # noqa: E402,F401
               algorithms,
               architectures,
               datasets,
               dynamic_ops,
               engine,
               evaluation,
               mutables,
               mutators,
               ops,
               resources,
)
from .version import __version__  # noqa: E402

__all__ = ['__version__']
