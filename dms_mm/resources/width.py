"""The channels of one dimension of a layer, as a resource count sees them."""
from typing import Optional, Sequence, Tuple

from dms_mm.dynamic_ops.channel_masks import dms_ranges, ranges_mask
from dms_mm.ops import straight_through


class Width:
    """The input or output channels of one layer: ranges held by DMS
    mutables, and channels that no search changes.

    Its straight-through count is ``fixed + sum(repeat * group_size *
    count(mutable))`` over the ranges, from each mutable's count of the
    current step (:class:`~dms_mm.resources.MutableCounts`).

    Args:
        channels (int): All channels of the dimension.
        ranges (Sequence[tuple]): ``(start, end, mutable, repeat)`` of each
            range held by a :class:`~dms_mm.mutables.DMSMutableChannel`; each
            of the mutable's channels is repeated ``repeat`` times there.
    """

    def __init__(self, channels: int, ranges: Sequence[Tuple] = ()) -> None:
        self.channels = int(channels)
        self.ranges = tuple(ranges)
        self.fixed = self.channels - sum(end - start for start, end, _, _ in self.ranges)

    @classmethod
    def of(cls, container, channels: int) -> 'Width':
        """The width of a layer dimension from its mmrazor channel container
        (``None``: not searched)."""
        return cls(channels, dms_ranges(container))

    @property
    def searched(self) -> bool:
        """Whether some DMS mutable holds part of it."""
        return bool(self.ranges)

    def mutables(self):
        return [mutable for _, _, mutable, _ in self.ranges]

    def count(self, counts):
        """Straight-through number of kept channels (a float when nothing is
        searched)."""
        total = float(self.fixed)
        for _, _, mutable, repeat in self.ranges:
            total = total + counts.channels(mutable) * repeat
        return total

    def group_counts(self, counts, groups: int):
        """Straight-through kept channels of each of ``groups`` equal groups
        (one number for all of them when nothing is searched)."""
        if not self.searched:
            return float(self.channels // groups)  # broadcasts on any device
        mask = ranges_mask(self.ranges, self.channels, counts.channel_mask).float()
        return straight_through(mask.view(groups, -1)).sum(dim=1)

    def __repr__(self) -> str:
        held = ', '.join(f'{end - start} by {type(m).__name__}'
                         f'({m.num_channels}{"x" + str(r) if r > 1 else ""})'
                         for start, end, m, r in self.ranges)
        return f'Width({self.channels}' + (f': {held}' if held else ', fixed') + ')'


class GatedWidth(Width):
    """A width some of whose ranges exist only while a removable block is
    kept: the slices of a concatenation of block outputs that the export
    folds away with the block (YOLOv8's C2f). Each such range counts its
    channels times the block's straight-through depth mask.

    Args:
        width (Width): The layer dimension's width.
        gates (dict): ``(start, end)`` of a range of ``width`` ->
            ``(depth mutable, block index)``.
    """

    def __init__(self, width: Width, gates) -> None:
        super().__init__(width.channels, width.ranges)
        self.gates = dict(gates)
        missing = set(self.gates) - {(start, end) for start, end, _, _ in self.ranges}
        if missing:
            raise ValueError(f'GatedWidth: ranges {sorted(missing)} are not searched ranges of '
                             f'{width}')

    def count(self, counts):
        total = float(self.fixed)
        for start, end, mutable, repeat in self.ranges:
            kept = counts.channels(mutable) * repeat
            gate = self.gates.get((start, end))
            total = total + (kept if gate is None else kept * counts.block_scale(*gate))
        return total

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f'; {len(self.gates)} gated by blocks)'


def first_searched(*widths: Optional[Width]) -> Width:
    """The first searched width of ``widths``, else the first one."""
    for width in widths:
        if width is not None and width.searched:
            return width
    return widths[0]
