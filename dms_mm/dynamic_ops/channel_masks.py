"""Which channels of a layer a DMS mutable holds, and the mask over them.

An mmrazor ``MutableChannelContainer`` maps channel ranges of a layer to
mutables. A range held by a :class:`~dms_mm.mutables.DMSMutableChannel`
(directly, or through a derived mutable that repeats each of its channels, as
an expansion or a concatenation of copies does) is masked; other ranges are
not.
"""
from typing import List, Optional, Tuple

import torch


def dms_source(mutable, width: int) -> Tuple[Optional[object], int]:
    """The DMS channel mutable behind ``mutable`` and how often each of its
    channels repeats in a range of ``width`` channels, or ``(None, 1)``."""
    from dms_mm.mutables import DMSMutableChannel

    if isinstance(mutable, DMSMutableChannel):
        return mutable, 1
    source_mutables = getattr(mutable, 'source_mutables', None)
    if source_mutables:
        sources = [m for m in source_mutables if isinstance(m, DMSMutableChannel)]
        if len(sources) == 1 and width % sources[0].num_channels == 0:
            return sources[0], width // sources[0].num_channels
    return None, 1


def dms_ranges(container) -> List[Tuple[int, int, object, int]]:
    """``(start, end, mutable, repeat)`` of each range of ``container`` held by
    a DMS mutable, in channel order; empty for ``None``."""
    if container is None:
        return []
    ranges = []
    for (start, end), mutable in container.mutable_channels.items():
        source, repeat = dms_source(mutable, end - start)
        if source is not None:
            ranges.append((start, end, source, repeat))
    return ranges


def ranges_mask(ranges, channels: int, mask_of) -> torch.Tensor:
    """The mask over ``channels`` channels: ``mask_of(mutable)`` (repeated)
    over each of ``ranges`` (as :func:`dms_ranges` gives them), ones elsewhere."""
    if len(ranges) == 1 and ranges[0][:2] == (0, channels):
        _, _, mutable, repeat = ranges[0]
        mask = mask_of(mutable)
        return mask.repeat_interleave(repeat) if repeat > 1 else mask
    parts, last_end = [], 0
    for start, end, mutable, repeat in ranges:
        mask = mask_of(mutable)
        if start > last_end:
            parts.append(mask.new_ones(start - last_end))
        parts.append(mask.repeat_interleave(repeat) if repeat > 1 else mask)
        last_end = end
    if last_end < channels:
        parts.append(parts[-1].new_ones(channels - last_end))
    return torch.cat(parts)


def container_mask(container) -> Optional[torch.Tensor]:
    """This forward's mask over all channels of ``container``.

    Ranges held by a DMS mutable get its channel mask; other ranges get ones.

    Args:
        container (MutableChannelContainer | None): The container.

    Returns:
        Tensor | None: The mask, or None if no range is held by DMS.
    """
    ranges = dms_ranges(container)
    if not ranges:
        return None
    return ranges_mask(ranges, container.num_channels, lambda mutable: mutable.channel_mask)
