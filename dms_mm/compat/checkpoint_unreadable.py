"""Name the file when a checkpoint cannot be read at all.

Problem:
    A job killed while it saves a checkpoint (a preempted cluster job, a full
    disk) leaves a truncated file. ``torch.load`` then fails with
    ``RuntimeError: PytorchStreamReader failed reading zip archive: failed
    finding central directory``, ``OSError: [Errno 22] Invalid argument`` or,
    for an empty file, a bare ``EOFError``, depending on where it stops; and
    mmengine 0.10.x's loader passes that on: nothing says which checkpoint, out
    of the ``--resume``, ``load_from``, ``model.checkpoint`` or
    ``model.expand.checkpoint`` of a config, is broken.

Fix:
    mmengine's loader for local files is wrapped: when loading an existing file
    fails and the file is not a whole zip archive (torch's format since 1.6),
    the failure becomes an :class:`UnreadableCheckpointError` that names the
    file, its size, and what to do. Any other failure passes unchanged.
    Nothing is retried or skipped. (Bytes changed inside a checkpoint
    that still has its zip directory load without an error: torch checks no
    checksum on load, and neither can this.)

Versions:
    Written for torch 2.x (zip checkpoints) with mmengine 0.10.x.
"""
import os
import zipfile

FIXED_FOR = {'torch': '>=2.0', 'mmengine': '>=0.10.0,<0.11.0'}

_APPLIED = False
_MARK = '__names_unreadable_checkpoints__'


class UnreadableCheckpointError(RuntimeError):
    """A checkpoint file that is truncated, empty or not a torch checkpoint."""


def unreadable(filename: str) -> bool:
    """Whether ``filename`` exists but is no whole zip archive."""
    return os.path.isfile(filename) and not zipfile.is_zipfile(filename)


def unreadable_message(filename: str, error: Exception) -> str:
    size = os.path.getsize(filename) if os.path.isfile(filename) else 0
    reason = f'{type(error).__name__}: {str(error).split(". ")[0]}'.rstrip(': ')
    return (f'checkpoint {filename!r} ({size} bytes) cannot be read: it is truncated, empty '
            f'or not a torch checkpoint ({reason}). A job killed while saving leaves such a '
            'file; resume from the checkpoint saved before it (--resume PATH), or delete it')


def _naming_loader(load_from_local):

    def loader(filename, map_location):
        try:
            return load_from_local(filename, map_location)
        except Exception as e:
            if not unreadable(filename):
                raise
            raise UnreadableCheckpointError(unreadable_message(filename, e)) from None

    setattr(loader, _MARK, True)
    return loader


def apply() -> None:
    """Wrap mmengine's local checkpoint loader. Safe to call repeatedly."""
    global _APPLIED
    if _APPLIED:
        return
    from mmengine.runner.checkpoint import CheckpointLoader

    local = CheckpointLoader._schemes.get('')
    if local is not None and not getattr(local, _MARK, False):
        CheckpointLoader.register_scheme(prefixes='', loader=_naming_loader(local), force=True)
    _APPLIED = True


def is_applied() -> bool:
    return _APPLIED
