"""Keep mmrazor's dynamic BatchNorm ops when mmengine converts SyncBN.

Problem:
    mmengine's Runner (``wrap_model``) calls ``revert_sync_batchnorm`` on
    every non-distributed run, and ``convert_sync_batchnorm`` on distributed
    runs with ``sync_bn='torch'`` in the config. Both build a *new* plain
    ``_BatchNormXd`` / ``SyncBatchNorm`` for every matching BatchNorm, and
    mmrazor's dynamic BatchNorm ops (dms_mm's ``DMSBatchNorm2d``,
    ``DMSSyncBatchNorm``, ... are subclasses) match. The dynamic op, its
    mutable channel container and its place in the channel units are lost:
    the searched model then exports that layer at full width next to pruned
    neighbours. So a model built with ``norm_cfg=dict(type='SyncBN')``
    breaks every single-process search, and ``sync_bn='torch'`` breaks
    every distributed one.

Fix:
    The two functions (in ``mmengine.model``, ``mmengine.model.utils`` and
    the Runner's module) switch a dynamic BatchNorm op in place to its
    synchronised or plain counterpart (same object, parameters, buffers and
    mutables; ``register_dynamic_bn`` declares the pairs, mmrazor's are
    built in). Every other module is converted by mmengine as before.
    ``sync_bn='mmcv'`` has no dynamic counterpart and raises a clear error
    when the model holds dynamic BatchNorm ops.

Versions:
    Written for mmengine 0.10.x with mmrazor 1.0.0.
"""
import functools
from typing import Dict, Iterable, Optional

FIXED_FOR = {'mmengine': '>=0.10.0,<0.11.0', 'mmrazor': '>=1.0.0,<1.1.0'}

_APPLIED = False
#: dynamic BatchNorm class -> its synchronised class
SYNC_COUNTERPARTS: Dict[type, type] = {}
#: dynamic SyncBatchNorm class -> its plain class
REVERT_COUNTERPARTS: Dict[type, type] = {}


def register_dynamic_bn(sync: type, plain: Iterable[type], reverted: type) -> None:
    """Declare the synchronised and plain forms of a dynamic BatchNorm op.

    Args:
        sync (type): The synchronised class (a ``nn.SyncBatchNorm``).
        plain (Iterable[type]): The classes that become ``sync`` under
            ``sync_bn``.
        reverted (type): The class ``sync`` becomes in a non-distributed run.
    """
    for cls in plain:
        SYNC_COUNTERPARTS[cls] = sync
    REVERT_COUNTERPARTS[sync] = reverted


def _register_mmrazor_ops() -> None:
    from mmrazor.models.architectures.dynamic_ops.bricks import dynamic_norm as ops

    if ops.DynamicSyncBatchNorm not in REVERT_COUNTERPARTS:
        register_dynamic_bn(
            ops.DynamicSyncBatchNorm,
            (ops.DynamicBatchNorm1d, ops.DynamicBatchNorm2d, ops.DynamicBatchNorm3d,
             ops.DynamicBatchNormXd), ops.DynamicBatchNormXd)


def _dynamic_bn(module) -> bool:
    from mmrazor.models.architectures.dynamic_ops import DynamicBatchNormMixin

    return isinstance(module, DynamicBatchNormMixin)


def _switch(module, table: Dict[type, type]) -> Optional[type]:
    _register_mmrazor_ops()
    target = table.get(type(module))
    if target is not None:
        module.__class__ = target
    return target


def _convert(original):

    @functools.wraps(original)
    def convert_sync_batchnorm(module, implementation='torch'):
        if _dynamic_bn(module):
            if type(module) in REVERT_COUNTERPARTS:
                return module  # already synchronised
            if implementation != 'torch':
                raise ValueError(
                    f"sync_bn={implementation!r}: {type(module).__name__} is a dynamic "
                    "(mmrazor/dms_mm) BatchNorm, and only sync_bn='torch' has a dynamic "
                    "counterpart; set sync_bn='torch' in the config")
            if _switch(module, SYNC_COUNTERPARTS) is not None:
                module.process_group = None
            return module
        return original(module, implementation)

    convert_sync_batchnorm.__wrapped_by_dms_mm__ = True
    return convert_sync_batchnorm


def _revert(original):

    @functools.wraps(original)
    def revert_sync_batchnorm(module):
        if _dynamic_bn(module):
            _switch(module, REVERT_COUNTERPARTS)
            return module
        return original(module)

    revert_sync_batchnorm.__wrapped_by_dms_mm__ = True
    return revert_sync_batchnorm


def apply() -> None:
    """Wrap mmengine's SyncBN conversions. Idempotent."""
    global _APPLIED
    if _APPLIED:
        return
    import mmengine.model as model_pkg
    import mmengine.runner.runner as runner_module
    from mmengine.model import utils

    convert = utils.convert_sync_batchnorm
    if not getattr(convert, '__wrapped_by_dms_mm__', False):
        convert = _convert(convert)
    revert = utils.revert_sync_batchnorm
    if not getattr(revert, '__wrapped_by_dms_mm__', False):
        revert = _revert(revert)
    # mmengine's own recursion calls the names in mmengine.model.utils
    for namespace in (utils, model_pkg, runner_module):
        namespace.convert_sync_batchnorm = convert
        namespace.revert_sync_batchnorm = revert
    _APPLIED = True


def is_applied() -> bool:
    return _APPLIED
