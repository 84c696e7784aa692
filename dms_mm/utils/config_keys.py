"""Clear errors for misspelled config keys, and the scope of a config that
names its package in its type."""
import copy
import difflib
import importlib.util
import inspect
from typing import Dict, Iterable, Optional

IGNORED_KEYS = ('type', '_scope_')


def unknown_key_message(owner: str, key: str, known: Iterable[str]) -> str:
    """The error text for an unknown config key, with the closest known one.

    Args:
        owner (str): Where the key was given, e.g. ``'model (DMSAlgorithm)'``.
        key (str): The unknown key.
        known (Iterable[str]): The keys ``owner`` accepts.

    Returns:
        str: ``"<owner>: unknown key 'x'; did you mean 'y'? (known keys: ...)"``.
    """
    known = sorted(known)
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ''
    return f"{owner}: unknown key '{key}'{hint} (known keys: {', '.join(known)})"


def named_arguments(cls) -> set:
    """The named arguments of ``cls.__init__`` (``self`` and ``*args`` /
    ``**kwargs`` aside)."""
    params = inspect.signature(cls.__init__).parameters
    return {
        name for name, p in params.items() if name != 'self' and p.kind not in (
            inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    }


def accepted_keys(cls) -> Optional[set]:
    """The keyword arguments ``cls(...)`` accepts, or None when it takes
    ``**kwargs`` (then any key may be right)."""
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return named_arguments(cls)


def check_keys(cfg: Dict, cls, owner: str, hidden: Iterable[str] = ()) -> None:
    """Raise a TypeError naming the first key of ``cfg`` that ``cls`` does not
    accept (``type`` and ``_scope_`` aside).

    Args:
        cfg (dict): The config given for ``cls``.
        cls (type): The class it builds.
        owner (str): Where the config sits, for the message
            (e.g. ``'model.mutator (DMSMutator)'``).
        hidden (Iterable[str]): Arguments that the config does not set
            (filled in by the caller); not suggested. Defaults to ().

    Raises:
        TypeError: For an unknown key, with the closest known key.
    """
    known = accepted_keys(cls)
    if known is None:
        return
    known = known - set(hidden)
    for key in cfg:
        if key not in known and key not in IGNORED_KEYS:
            raise TypeError(unknown_key_message(owner, key, known))


def scope_from_type(cfg):
    """A model config that names its package in its type
    (``type='mmpretrain.ImageClassifier'``) but has no ``_scope_`` gets that
    package as its scope.

    mmengine builds the named class from the named package, but its parts
    without a prefix (a default ``data_preprocessor``, a backbone written
    ``type='ResNet'``) are looked up in the scope of the caller, mmrazor for a
    DMS algorithm: ``KeyError: 'ClsDataPreprocessor is not in the
    mmrazor::model registry'``. That happens when ``_delete_=True`` replaces
    an inherited architecture and takes its ``_scope_`` with it.

    Args:
        cfg: The config; anything but a dict is returned as it is.

    Returns:
        The config, with ``_scope_`` set when it was missing and the type's
        prefix names an installed package.
    """
    if not isinstance(cfg, dict) or '_scope_' in cfg:
        return cfg
    kind = cfg.get('type')
    if not isinstance(kind, str) or '.' not in kind:
        return cfg
    scope = kind.split('.', 1)[0]
    if not scope.isidentifier() or importlib.util.find_spec(scope) is None:
        return cfg
    cfg = copy.copy(cfg)
    cfg['_scope_'] = scope
    return cfg
