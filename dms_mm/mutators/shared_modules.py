"""Modules that a model reaches by more than one name (shared weights).

mmdet's ``RTMDetSepBNHead`` with ``share_conv=True``, for example, sets
``cls_convs[n][i].conv = cls_convs[0][i].conv`` for every level ``n``: one
convolution, run on every level, with a BatchNorm of its own per level.
``named_modules()`` lists such a module once, under its first name, and
mmrazor's tracer names it so; mmrazor then swaps in dynamic ops by that name
only, which would leave the other names holding the original module (a
second, unmasked copy of the weights). :func:`relink_shared_modules` points
the other names back at whatever the first name holds now.
"""
from typing import Dict, List

from torch import nn


def shared_module_paths(model: nn.Module) -> List[List[str]]:
    """Every module reachable by more than one name: its names, first name
    first (the one ``named_modules()`` and the tracers use)."""
    paths: Dict[int, List[str]] = {}
    for name, module in model.named_modules(remove_duplicate=False):
        if name:
            paths.setdefault(id(module), []).append(name)
    return [names for names in paths.values() if len(names) > 1]


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition('.')
    setattr(model.get_submodule(parent) if parent else model, child, module)


def relink_shared_modules(model: nn.Module, groups: List[List[str]]) -> int:
    """Point every other name of each group at the module its first name holds.

    Args:
        model (nn.Module): The model (possibly a deep copy of the one
            ``groups`` was taken from: deep copies keep the sharing).
        groups (list[list[str]]): From :func:`shared_module_paths`, taken
            before any module was replaced.

    Returns:
        int: How many names were pointed at another module.
    """
    relinked = 0
    for first, *others in groups:
        module = model.get_submodule(first)
        for name in others:
            if model.get_submodule(name) is not module:
                _set(model, name, module)
                relinked += 1
    return relinked
