"""Which modules of a model are running, at any point of its forward."""
from contextlib import contextmanager
from typing import Iterator, List

from torch import nn


@contextmanager
def running_modules(model: nn.Module) -> Iterator[List[str]]:
    """Inside, the list yielded holds the names of the submodules of
    ``model`` whose forward is running, innermost last (an exception leaves
    the module it came from at the end). The model's own forward is not in
    it.

    Args:
        model (nn.Module): The model.
    """
    stack: List[str] = []
    handles = []

    def leave(*_) -> None:
        stack.pop()

    for name, module in model.named_modules():
        if not name:
            continue
        handles.append(module.register_forward_pre_hook(
            lambda _module, _args, name=name: stack.append(name)))
        handles.append(module.register_forward_hook(leave))
    try:
        yield stack
    finally:
        for handle in handles:
            handle.remove()
