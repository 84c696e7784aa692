"""Let ``torch.load(weights_only=True)`` read mmengine checkpoints.

Problem:
    Since torch 2.6, ``torch.load`` defaults to ``weights_only=True``: it only
    unpickles tensors, containers and allow-listed types. mmengine 0.10.x
    calls ``torch.load`` without the argument, and the checkpoints its Runner
    saves hold more than tensors: the message hub keeps
    :class:`mmengine.logging.HistoryBuffer` objects with numpy arrays and
    numpy scalars inside. Resuming (``--resume``) therefore fails with
    ``UnpicklingError: Weights only load failed``.

Fix:
    Allow-list exactly the types that mmengine's own checkpoints contain
    (``torch.serialization.add_safe_globals``). ``builtins.getattr`` is not
    allowed as such: the name is bound to :func:`history_buffer_statistic`,
    which only returns HistoryBuffer's four statistics methods and refuses
    any other attribute of any other object. ``weights_only`` stays ``True``,
    so a checkpoint that carries any other pickled object, code included, is
    still refused. Never turn weights-only loading off: that runs arbitrary code
    stored in the file. mmengine's loader for local files is wrapped so that
    such a refusal names the file and the offending global, without torch's
    advice to turn weights-only loading off.

Versions:
    Written for torch>=2.6 (where the default changed; 2.4 and 2.5 have
    ``add_safe_globals`` and are helped too) with mmengine 0.10.x.
"""
import pickle
from typing import List

import numpy as np
import torch

FIXED_FOR = {'torch': '>=2.4', 'mmengine': '>=0.10.0,<0.11.0', 'numpy': '>=1.20'}

_APPLIED = False

_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def _numpy_reconstruct():
    """Return numpy's array-unpickling function under its current module."""
    core = getattr(np, '_core', None)  # numpy>=2 moved numpy.core to _core
    if core is not None and hasattr(core, 'multiarray'):
        return core.multiarray._reconstruct
    return np.core.multiarray._reconstruct


def _numpy_scalar():
    core = getattr(np, '_core', None)
    if core is not None and hasattr(core, 'multiarray'):
        return core.multiarray.scalar
    return np.core.multiarray.scalar


def history_buffer_statistic(owner, name):
    """Stand-in for ``getattr`` while unpickling: HistoryBuffer statistics only.

    Args:
        owner (type): Must be :class:`mmengine.logging.HistoryBuffer`.
        name (str): One of ``min``, ``max``, ``current`` and ``mean``.

    Returns:
        The unbound statistics method.

    Raises:
        pickle.UnpicklingError: For any other object or attribute.
    """
    from mmengine.logging import HistoryBuffer

    if owner is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refused getattr({owner!r}, {name!r}) in a checkpoint: only '
        f'HistoryBuffer.{{{",".join(_HISTORY_BUFFER_STATISTICS)}}} are allowed '
        '(dms_mm.compat.checkpoint_safe_globals)')


def mmengine_checkpoint_globals() -> List[object]:
    """The globals that mmengine 0.10 Runner checkpoints need, and no more.

    Returns:
        list: Classes and functions to pass to
        ``torch.serialization.add_safe_globals``.
    """
    from mmengine.logging import HistoryBuffer

    allowed = [
        HistoryBuffer,  # message_hub.log_scalars
        np.ndarray,  # the arrays inside HistoryBuffer
        np.dtype,
        _numpy_reconstruct(),  # how numpy pickles an ndarray
        _numpy_scalar(),  # numpy scalars in message_hub.runtime_info
        (history_buffer_statistic, 'builtins.getattr'),  # see its docstring
    ]
    # The dtype classes of the arrays and scalars (numpy>=1.25 has them
    # under numpy.dtypes; older numpy pickles np.dtype directly).
    for name in ('float16', 'float32', 'float64', 'int8', 'int16', 'int32',
                 'int64', 'uint8', 'bool_'):
        allowed.append(type(np.dtype(getattr(np, name))))
    unique = []
    for item in allowed:  # de-duplicate (dtype classes repeat), keep order
        if not any(item is seen for seen in unique):
            unique.append(item)
    return unique


class RefusedCheckpointError(pickle.UnpicklingError):
    """A checkpoint that holds pickled objects other than plain data."""


def refusal_message(filename: str, error: Exception) -> str:
    """The message for a checkpoint that weights-only loading refused."""
    text = str(error)
    reason = next((line.strip() for line in text.splitlines()
                   if 'WeightsUnpickler error' in line), text.splitlines()[0] if text else '')
    reason = reason.replace('WeightsUnpickler error: ', '').split(' Please use')[0].rstrip('.')
    return (f'checkpoint {filename!r} was refused: it holds pickled objects that are not '
            f'plain data ({reason}). Checkpoints are loaded with weights_only=True, so code '
            'stored in a file never runs; only the types that mmengine checkpoints need are '
            'allowed (dms_mm.compat.checkpoint_safe_globals)')


def _naming_local_loader(load_from_local):

    def loader(filename, map_location):
        try:
            return load_from_local(filename, map_location)
        except pickle.UnpicklingError as e:
            raise RefusedCheckpointError(refusal_message(filename, e)) from None

    loader.__wrapped_by_dms_mm__ = True
    return loader


def apply() -> None:
    """Allow-list the mmengine checkpoint types. Safe to call repeatedly."""
    global _APPLIED
    if _APPLIED:
        return
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:
        # torch<2.4 has no allow list, and loads full pickles by default.
        _APPLIED = True
        return
    add_safe_globals(mmengine_checkpoint_globals())
    from mmengine.runner.checkpoint import CheckpointLoader

    local = CheckpointLoader._schemes.get('')
    if local is not None and not getattr(local, '__wrapped_by_dms_mm__', False):
        CheckpointLoader.register_scheme(prefixes='', loader=_naming_local_loader(local),
                                         force=True)
    _APPLIED = True


def is_applied() -> bool:
    return _APPLIED
