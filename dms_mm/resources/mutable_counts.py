"""Each mutable's mask and straight-through count, once per resource count."""
from typing import Dict

import torch

from dms_mm.ops import straight_through, straight_through_count


class MutableCounts:
    """The straight-through counts of one resource count (one step).

    Each mutable's hook-free resource mask
    (:meth:`~dms_mm.mutables.DMSMutableMixin.resource_mask`) is computed once,
    the first time a counter asks for it, and every layer it counts in shares
    it. Gradients are recorded when they were enabled where this object was
    made, even if the counters then compute a count without them.
    """

    def __init__(self) -> None:
        self.grad_enabled = torch.is_grad_enabled()
        self._masks: Dict[int, torch.Tensor] = {}
        self._counts: Dict[int, torch.Tensor] = {}
        self._straight: Dict[int, torch.Tensor] = {}

    def mask(self, mutable) -> torch.Tensor:
        """The element mask of ``mutable`` (soft, or hard when frozen)."""
        key = id(mutable)
        if key not in self._masks:
            with torch.set_grad_enabled(self.grad_enabled):
                self._masks[key] = mutable.resource_mask()
        return self._masks[key]

    def count(self, mutable) -> torch.Tensor:
        """Straight-through number of kept elements of ``mutable``."""
        key = id(mutable)
        if key not in self._counts:
            mask = self.mask(mutable)
            with torch.set_grad_enabled(self.grad_enabled):
                self._counts[key] = straight_through_count(mask)
        return self._counts[key]

    def channels(self, mutable) -> torch.Tensor:
        """Straight-through number of kept channels of a channel mutable."""
        group = getattr(mutable, 'group_size', 1)
        return self.count(mutable) * group if group > 1 else self.count(mutable)

    def channel_mask(self, mutable) -> torch.Tensor:
        """The mask over the channels of a channel mutable."""
        return mutable.expand(self.mask(mutable))

    def block_scale(self, mutable, index: int) -> torch.Tensor:
        """Straight-through 0/1 scale of block ``index`` of a depth mutable."""
        key = id(mutable)
        if key not in self._straight:
            mask = self.mask(mutable)
            with torch.set_grad_enabled(self.grad_enabled):
                self._straight[key] = straight_through(mask)
        return self._straight[key][index]

    def __repr__(self) -> str:
        return f'MutableCounts({len(self._masks)} mutables counted)'
