"""Let mmyolo's ``yolov5_collate`` run from a config that inherits an mmyolo
base config.

Problem:
    A config whose ``_base_`` is ``mmyolo::...`` gets ``_scope_='mmyolo'`` in
    every dict of its base that names a ``type``, the dataloader's
    ``collate_fn=dict(type='yolov5_collate')`` included. mmengine's runner
    builds a collate function as ``partial(function, **cfg)`` with ``type``
    popped but ``_scope_`` left in, so the first batch fails with
    "yolov5_collate() got an unexpected keyword argument '_scope_'" (an mmyolo
    issue of its configs with mmengine 0.10).

Fix:
    The entry ``yolov5_collate`` of mmengine's collate-function registry (where
    mmyolo registers it) is replaced by a function that drops ``_scope_`` and
    calls mmyolo's with everything else. Nothing is done where mmyolo is not
    imported.

Versions:
    Written for mmyolo 0.6.0 with mmengine 0.10.x.
"""
import functools
import sys

FIXED_FOR = {'mmyolo': '==0.6.0', 'mmengine': '>=0.10.0,<0.11.0'}

NAME = 'yolov5_collate'


def apply() -> None:
    """Make the registered ``yolov5_collate`` accept (and drop) ``_scope_``."""
    if 'mmyolo' not in sys.modules or is_applied():
        return
    import mmyolo.datasets  # noqa: F401  (registers the collate function)
    from mmengine.dataset import COLLATE_FUNCTIONS

    collate = COLLATE_FUNCTIONS.get(NAME)
    if collate is None:
        return

    @functools.wraps(collate)
    def scoped_collate(data_batch, *args, _scope_=None, **kwargs):
        return collate(data_batch, *args, **kwargs)

    scoped_collate.dms_mm_drops_scope = True
    COLLATE_FUNCTIONS._module_dict[NAME] = scoped_collate


def is_applied() -> bool:
    if 'mmyolo' not in sys.modules:
        return False
    from mmengine.dataset import COLLATE_FUNCTIONS
    return getattr(COLLATE_FUNCTIONS.get(NAME), 'dms_mm_drops_scope', False)
