"""YOLOv8's C2f block (mmyolo's ``CSPLayerWithTwoConv``) after a DMS search.

C2f splits the output of ``main_conv`` into two halves, runs its blocks on the
second one after the other, and concatenates the halves and every block's
output into ``final_conv``. A search prunes the halves to widths of their own
and may remove blocks; :func:`finish_c2f` makes the exported module agree:
its split takes the two kept widths, and where a residual block was removed
its output (equal to its input) is folded into ``final_conv``: the weights
that read the removed block's slice of the concatenation are added to those
that read the slice before it, and the slice goes.
"""
from typing import Sequence

import torch
from mmyolo.models.layers.yolo_bricks import CSPLayerWithTwoConv
from torch import nn


class PrunedCSPLayerWithTwoConv(CSPLayerWithTwoConv):
    """``CSPLayerWithTwoConv`` whose two halves may have different widths
    (``split_sizes``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = list(self.main_conv(x).split(tuple(self.split_sizes), 1))
        for block in self.blocks:
            parts.append(block(parts[-1]))
        return self.final_conv(torch.cat(parts, 1))


def finish_c2f(module: CSPLayerWithTwoConv, removed: Sequence[int]) -> None:
    """Turn a static C2f (its layers already sliced) into
    :class:`PrunedCSPLayerWithTwoConv` and fold the slices of the removed
    blocks into ``final_conv``.

    Args:
        module (CSPLayerWithTwoConv): The static module, its removed blocks
            already deleted from ``blocks``.
        removed (Sequence[int]): Positions of the removed blocks in the
            searched module.
    """
    final = module.final_conv.conv
    halves = module.main_conv.conv.out_channels
    if len(module.blocks):
        stream = module.blocks[0].conv1.conv.in_channels
    else:  # every block removed (they had shortcuts: the slices have one width)
        stream = (final.in_channels - halves) // len(removed)
    kept_first = halves - stream
    if removed:  # only blocks with shortcuts go: every slice has the stream's width
        weight = final.weight.detach()
        # the concatenation as searched: [first half, stream, one slice per block]
        slices = [weight[:, :kept_first]] + list(weight[:, kept_first:].split(stream, dim=1))
        for position in sorted(removed, reverse=True):  # its output equals its input
            gone = slices.pop(position + 2)
            slices[position + 1] = slices[position + 1] + gone
        _replace_input(module.final_conv, torch.cat(slices, dim=1))
    module.split_sizes = (kept_first, stream)
    module.mid_channels = stream
    module.__class__ = PrunedCSPLayerWithTwoConv


def _replace_input(conv_module: nn.Module, weight: torch.Tensor) -> None:
    """Give ``conv_module.conv`` the folded ``weight`` (fewer input channels)."""
    final = conv_module.conv
    new = nn.Conv2d(weight.shape[1], final.out_channels, final.kernel_size, final.stride,
                    final.padding, final.dilation, final.groups, final.bias is not None,
                    final.padding_mode, device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        new.weight.copy_(weight)
        if final.bias is not None:
            new.bias.copy_(final.bias.detach())
    new.train(final.training)
    conv_module.conv = new

