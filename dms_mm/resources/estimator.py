"""Soft FLOPs and params of a whole model, from one counter per layer call."""
from collections import Counter
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Type

import torch
from torch import nn

from dms_mm.registry import RESOURCE_COUNTERS

from .counters import BaseResourceCounter
from .mutable_counts import MutableCounts

RESOURCE_KINDS = ('flops', 'params')


def counter_type(module: nn.Module) -> Optional[Type[BaseResourceCounter]]:
    """The registered counter of ``module``: that of the first class in its
    MRO with one (``DMSConv2d`` and mmcv's ``Conv2dAdaptivePadding`` are
    counted as ``Conv2d``), or None."""
    for cls in type(module).__mro__:
        counter = RESOURCE_COUNTERS.module_dict.get(cls.__name__)
        if counter is not None:
            return counter
    return None


class SoftResourceEstimator:
    """The soft FLOPs and params of a model.

    Each value is the hard count of the current structure and each gradient
    that of the soft masks (straight-through). Layers no search can change
    are summed once, here; the others are counted at every call of
    :meth:`count`, each mutable's straight-through count computed once for
    all the layers it counts in (:class:`MutableCounts`). Nothing in a count
    reads a value back to the host.

    Args:
        counters (Iterable[tuple]): ``(counter, block)`` pairs: the counter of
            one layer call, and the ``(depth mutable, index)`` of the
            removable block that holds the layer, or None.
    """

    def __init__(self, counters: Iterable[Tuple[BaseResourceCounter, Optional[tuple]]]) -> None:
        self.counters: List[Tuple[BaseResourceCounter, Optional[tuple]]] = []
        #: the counters of layers no search changes, summed in :attr:`constant`
        self.constant_counters: List[BaseResourceCounter] = []
        self.constant = dict.fromkeys(RESOURCE_KINDS, 0.0)
        fixed = MutableCounts()
        for counter, block in counters:
            if counter.searched or block is not None:
                self.counters.append((counter, block))
            else:
                self.constant['flops'] += float(counter.flops(fixed))
                self.constant['params'] += float(counter.total_params(fixed))
                self.constant_counters.append(counter)

    def all_counters(self) -> List[Tuple[BaseResourceCounter, Optional[tuple]]]:
        """Every ``(counter, block)`` pair, the constant ones included."""
        return self.counters + [(counter, None) for counter in self.constant_counters]

    def count(self, grad: Sequence[str] = RESOURCE_KINDS) -> Dict[str, torch.Tensor]:
        """Soft FLOPs and params of the current structure.

        Args:
            grad (Sequence[str]): The kinds whose graph is recorded (when
                gradients are enabled at all); the others are counted without
                autograd. A search needs the gradient of its target only.

        Returns:
            dict: ``flops`` and ``params``, float32 tensors.
        """
        unknown = set(grad) - set(RESOURCE_KINDS)
        if unknown:
            raise ValueError(f'SoftResourceEstimator: unknown resource kinds {sorted(unknown)}; '
                             f'known: {RESOURCE_KINDS}')
        counts = MutableCounts()
        result = {}
        for kind in RESOURCE_KINDS:
            total = self.constant[kind]
            with torch.set_grad_enabled(counts.grad_enabled and kind in grad):
                for counter, block in self.counters:
                    value = (counter.flops(counts) * counter.batch_share(counts)
                             if kind == 'flops' else counter.total_params(counts))
                    if block is not None:
                        value = value * counts.block_scale(*block)
                    total = total + value
            result[kind] = torch.as_tensor(total, dtype=torch.float32)
        return result

    def __repr__(self) -> str:
        kinds = Counter(type(c).__name__ for c, _ in self.counters)
        in_blocks = sum(block is not None for _, block in self.counters)
        return (f'SoftResourceEstimator({len(self.counters)} counted each step '
                f'({", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))}; '
                f'{in_blocks} inside removable blocks), {len(self.constant_counters)} constant: '
                f'{self.constant["flops"] / 1e6:.3f} MFLOPs, '
                f'{self.constant["params"] / 1e6:.4f} M params)')
