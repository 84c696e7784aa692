"""Soft resource counts: the value of each count is the hard count, and its
gradient is that of the soft sum of the masks (straight-through).

Conventions follow ``mmengine.analysis`` (the independent counter the tests
compare against), so the soft FLOPs of a model with 0/1 masks equal the FLOPs
mmengine counts on the pruned model:

* convolution and linear: multiply-accumulates, no bias term;
* BatchNorm (eval, affine): 2 per element; LayerNorm (affine): 5 per element;
* parameters: weights, biases and norm affine parameters.
"""
from typing import Optional

import torch
from mmrazor.utils import IndexDict

from dms_mm.ops import straight_through_count


def _dms_source(mutable, width: int):
    """The DMS channel mutable behind ``mutable`` and its expansion ratio."""
    from dms_mm.mutables import DMSMutableChannel

    if isinstance(mutable, DMSMutableChannel):
        return mutable, 1
    source_mutables = getattr(mutable, 'source_mutables', None)
    if source_mutables:
        sources = [m for m in source_mutables if isinstance(m, DMSMutableChannel)]
        if len(sources) == 1 and width % sources[0].num_channels == 0:
            return sources[0], width // sources[0].num_channels
    return None, 1


def container_mask(container, resource: bool = False) -> Optional[torch.Tensor]:
    """The mask over all channels of an mmrazor ``MutableChannelContainer``.

    Ranges held by a DMS mutable get its channel mask; other ranges (no
    mutable, or a mutable of another kind) get ones.

    Args:
        container (MutableChannelContainer | None): The container.
        resource (bool): Use the hook-free resource masks. Defaults to False.

    Returns:
        Tensor | None: The mask, or None if no range is held by DMS.
    """
    if container is None:
        return None
    ranges: IndexDict = container.mutable_channels
    if len(ranges) == 0:
        return None
    parts, last_end, has_dms, ref = [], 0, False, None
    for (start, end), mutable in ranges.items():
        if start > last_end:
            parts.append((None, start - last_end))
        source, ratio = _dms_source(mutable, end - start)
        if source is None:
            parts.append((None, end - start))
        else:
            mask = source.resource_channel_mask() if resource else source.channel_mask
            if ratio > 1:
                mask = mask.repeat_interleave(ratio)
            parts.append((mask, end - start))
            has_dms, ref = True, mask
        last_end = end
    if last_end < container.num_channels:
        parts.append((None, container.num_channels - last_end))
    if not has_dms:
        return None
    if len(parts) == 1:
        return parts[0][0]
    return torch.cat([
        mask if mask is not None else torch.ones(n, device=ref.device, dtype=ref.dtype)
        for mask, n in parts
    ])


def count(mask: Optional[torch.Tensor], full: int, device=None) -> torch.Tensor:
    """Straight-through count of a mask; ``full`` when there is no mask."""
    if mask is None:
        return torch.tensor(float(full), device=device)
    return straight_through_count(mask)


def group_counts(mask: Optional[torch.Tensor], full: int, groups: int,
                 device=None) -> torch.Tensor:
    """Straight-through counts per group of ``full // groups`` channels."""
    if mask is None:
        return torch.full((groups, ), float(full // groups), device=device)
    soft = mask.float().view(groups, -1)
    hard = (soft >= 0.5).float()
    return (hard - soft.detach() + soft).sum(dim=1)
