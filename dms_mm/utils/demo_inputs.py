"""The input a search's analyses run a model on."""
from typing import Optional

import torch
from torch import nn


def demo_inputs(model: nn.Module, shape, device=None,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """A random input of ``shape`` for ``model``: what its ``demo_inputs``
    method makes where it has one (token ids of a causal language model),
    else uniform floats (an image).

    Args:
        model (nn.Module): The model (the architecture, not the algorithm).
        shape (tuple): The input's shape (the mutator's ``demo_input``).
        device (torch.device, optional): Where the input goes.
        generator (torch.Generator, optional): For a reproducible input.
    """
    make = getattr(model, 'demo_inputs', None)
    if callable(make):
        return make(tuple(shape), device=device, generator=generator)
    if generator is None:
        return torch.rand(tuple(shape), device=device)
    x = torch.rand(tuple(shape), generator=generator)
    return x if device is None else x.to(device)
