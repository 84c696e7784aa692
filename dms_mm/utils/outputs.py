"""The tensors of a model's output, whatever nesting it returns them in."""
from typing import List

import torch


def flat_tensors(outputs, strict: bool = True) -> List[torch.Tensor]:
    """The tensors of a nested tuple, list or dict of outputs, in order.

    Args:
        outputs: A tensor, or tuples, lists and dicts of them.
        strict (bool): Raise TypeError for anything else in them; else skip
            it. Defaults to True.
    """
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    if isinstance(outputs, dict):
        outputs = list(outputs.values())
    if isinstance(outputs, (list, tuple)):
        return [t for item in outputs for t in flat_tensors(item, strict)]
    if strict:
        raise TypeError(f'a {type(outputs).__name__} among the outputs, not a tensor')
    return []
