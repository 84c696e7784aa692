"""Resource counter of ops called outside any layer."""
from typing import Optional

from ..width import Width
from .base_counter import BaseResourceCounter


class FunctionalOpCounter(BaseResourceCounter):
    """The FLOPs of one op's calls in one module that no layer counter
    covers (``q @ k^T`` in an attention DMS does not model, ``F.interpolate``
    in a neck), recorded by a demo forward
    (:func:`~dms_mm.resources.functional_ops.record_functional_ops`). No
    params.

    An op whose FLOPs are so many per channel of its input (a pooling, an
    upsampling, a norm), where the input carries the output channels of a
    layer, is counted by that layer's width; every other op is a constant of
    the structure (the export check tells where a search changes it all the
    same). Inside a removable block the mutator scales it by its depth mask.
    Built by the mutator, not by op type.

    Args:
        module_name (str): The module the op runs in.
        module (nn.Module): That module.
        op (str): The op (``matmul``, ``einsum``, ``upsample``, ...).
        flops (float): Its FLOPs at the demo input and full width, all calls
            there.
        calls (int): The number of calls.
        width (Width, optional): The channels its FLOPs are counted per (the
            output channels of the layer that gives its input). None: constant.
    """

    count_unknown_params = False  # the module's own params are counted elsewhere

    def __init__(self, module_name: str, module, op: str, flops: float, calls: int,
                 width: Optional[Width] = None) -> None:
        self.op, self.full_flops, self.calls = op, float(flops), int(calls)
        width = width if width is not None and width.searched else Width(0)
        super().__init__(module_name, module, (), (), width, width)

    def flops(self, counts):
        if not self.out_width.searched:
            return self.full_flops
        return self.full_flops / self.out_width.channels * self.out_width.count(counts)

    def params(self, counts):
        return 0.0

    def __repr__(self) -> str:
        width = f', per channel of {self.out_width}' if self.out_width.searched else ''
        return (f'FunctionalOpCounter({self.op} in {self.name or "the model"}: '
                f'{self.full_flops / 1e6:.4f} MFLOPs at full width, {self.calls} '
                f'call(s){width})')
