"""Clear errors for misspelled config keys."""
import difflib
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
