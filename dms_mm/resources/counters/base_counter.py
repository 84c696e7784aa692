"""The base of the resource counters: one call of one layer."""
import math
from typing import Optional, Tuple

import torch
from torch import nn

from ..width import Width


class BaseResourceCounter:
    """FLOPs and params of one call of one layer, from the input and output
    shapes recorded by a demo forward and the widths of the layer.

    The same formula counts a layer DMS masks (its widths held by mutables:
    the counts are straight-through tensors) and a layer it does not (fixed
    widths: the counts are plain numbers, which the mutator adds once).
    Conventions are mmengine's (``mmengine.analysis``), the independent count
    the tests compare against: multiply-accumulates, no bias term in FLOPs.

    A subclass is registered in :data:`~dms_mm.registry.RESOURCE_COUNTERS`
    under the names of the op types it counts, and gives :meth:`channels`,
    :meth:`flops` and :meth:`params`. Parameters that the formula does not
    know (a subclass with a parameter of its own) are added as a constant.

    Args:
        name (str): The layer's name in the model.
        module (nn.Module): The layer.
        in_shape (tuple): Shape of its first input at this call.
        out_shape (tuple): Shape of its output at this call.
        in_width (Width): Its input channels.
        out_width (Width): Its output channels.
        first_call (bool): False for a further call of a layer that runs more
            than once per forward: its FLOPs count again, its params do not.
    """

    #: whether the module's own parameters beyond :meth:`params` are counted
    #: (False for a counter whose :meth:`params` covers a whole composite module)
    count_unknown_params = True

    def __init__(self, name: str, module: nn.Module, in_shape: tuple, out_shape: tuple,
                 in_width: Width, out_width: Width, first_call: bool = True) -> None:
        self.name, self.module = name, module
        self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
        self.in_width, self.out_width = in_width, out_width
        self.first_call = first_call
        #: a searched width among the dims before the layer's channels (a linear
        #: over the tokens of a transposed map, whose rows are the embedding);
        #: its FLOPs scale with that width's kept share
        self.batch_width: Optional[Width] = None
        self.unknown_params = 0.0
        if first_call and self.count_unknown_params:
            own = sum(p.numel() for p in module.parameters(recurse=False))
            self.unknown_params = float(own) - float(self.params(_FULL))

    @staticmethod
    def channels(module: nn.Module) -> Tuple[int, int]:
        """The input and output channels of ``module``."""
        raise NotImplementedError

    @property
    def searched(self) -> bool:
        """Whether a DMS mutable changes this count."""
        return self.in_width.searched or self.out_width.searched or (
            self.batch_width is not None and self.batch_width.searched)

    def batch_share(self, counts):
        """The kept share of :attr:`batch_width` (1 when there is none)."""
        if self.batch_width is None or not self.batch_width.searched:
            return 1.0
        return self.batch_width.count(counts) / self.batch_width.channels

    def flops(self, counts):
        """Soft FLOPs of this call (see :class:`~dms_mm.resources.MutableCounts`)."""
        raise NotImplementedError

    def params(self, counts):
        """Soft params of the layer (at its first call; 0 at the others)."""
        raise NotImplementedError

    def total_params(self, counts):
        if not self.first_call:
            return 0.0
        return self.params(counts) + self.unknown_params

    def __repr__(self) -> str:
        call = '' if self.first_call else ', further call'
        return (f'{type(self).__name__}({self.name}: in {self.in_width} {self.in_shape}, '
                f'out {self.out_width} {self.out_shape}{call})')


class _FullWidths:
    """Counts of a layer at full width, for :attr:`unknown_params`."""

    def channels(self, mutable):
        return float(mutable.num_channels)

    def count(self, mutable):
        return float(mutable.num_elements)

    def channel_mask(self, mutable):
        return torch.ones(mutable.num_channels)

    def block_scale(self, mutable, index):
        return 1.0


_FULL = _FullWidths()


def spatial_size(shape: tuple) -> int:
    """Batch times the spatial size of an ``(N, C, *spatial)`` shape."""
    return shape[0] * math.prod(shape[2:])


def tokens(shape: tuple) -> int:
    """All dims but the last (channels-last layers)."""
    return math.prod(shape[:-1])
