"""Let mmyolo 0.6.0 import beside mmcv 2.1.0.

Problem:
    mmyolo 0.6.0 (its last release) asserts ``2.0.0rc4 <= mmcv < 2.1.0`` in
    its ``__init__``, so ``import mmyolo`` (and every config with
    ``default_scope='mmyolo'``, whose registry imports it) fails with
    "MMCV==2.1.0 is used but incompatible". mmcv 2.1.0 is the version built
    for torch 2.x here; every mmcv name mmyolo imports exists in it, and
    nothing else in mmyolo reads mmcv's version.

Fix:
    mmyolo is imported once, when dms_mm is, with ``mmcv.__version__`` reading
    ``2.0.1`` (inside mmyolo's range) for the duration of that import only;
    the real version is restored right after, whatever happens. Where mmyolo
    is not installed, or is already imported, nothing is done.

Versions:
    Written for mmyolo 0.6.0 with mmcv 2.1.0.
"""
import importlib.util
import sys

FIXED_FOR = {'mmyolo': '==0.6.0', 'mmcv': '>=2.1.0,<2.2.0'}

#: an mmcv version inside the range mmyolo 0.6.0 asserts
IN_RANGE = '2.0.1'


def apply() -> None:
    """Import mmyolo (if installed) past its mmcv version assertion."""
    if 'mmyolo' in sys.modules or importlib.util.find_spec('mmyolo') is None:
        return
    import mmcv

    real = mmcv.__version__
    mmcv.__version__ = IN_RANGE
    try:
        import mmyolo  # noqa: F401
    finally:
        mmcv.__version__ = real


def is_applied() -> bool:
    import mmcv
    return 'mmyolo' in sys.modules and mmcv.__version__ != IN_RANGE
