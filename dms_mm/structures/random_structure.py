"""Random structures of a prepared search: the export check's draw, the
random baseline's and the tests'."""
from typing import Callable

import torch


def random_elements(generator: torch.Generator, low: float) -> Callable:
    """What draws a mutable's random structure: a random order of its
    elements and a keep ratio uniform in ``[low, 1]``."""

    def draw(mutable):
        mutable.importance.copy_(torch.rand(mutable.num_elements, generator=generator))
        mutable.keep_ratio.fill_(low + (1 - low) * torch.rand((), generator=generator).item())

    return draw


@torch.no_grad()
def randomize_structure(mutator, seed: int = 0, low: float = 0.2) -> None:
    """Every searched unit, stage and attention of ``mutator`` at a random
    structure (:func:`random_elements`), clamped to its bounds."""
    draw = random_elements(torch.Generator().manual_seed(seed), low)
    for mutable in mutator.dms_mutables():
        if not mutable.frozen:
            draw(mutable)
    mutator.clamp_()
