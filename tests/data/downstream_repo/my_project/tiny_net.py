"""A small custom backbone with two kinds of residual block.

``PlainResBlock`` is found removable by dms_mm's tracer. ``CheckedResBlock``
checks its input in Python, which torch.fx cannot trace: its type is declared
removable in the config, and the mutator's summary says why its channels are
not searched.
"""
import torch
from mmpretrain.models.backbones.base_backbone import BaseBackbone
from mmpretrain.registry import MODELS
from torch import nn


def conv_bn(c_in, c_out, stride=1):
    return [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out)]


class PlainResBlock(nn.Module):
    """``relu(x + bn(conv(relu(bn(conv(x))))))``."""

    def __init__(self, channels, hidden):
        super().__init__()
        self.conv1, self.bn1 = conv_bn(channels, hidden)
        self.conv2, self.bn2 = conv_bn(hidden, channels)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(out)))


class CheckedResBlock(PlainResBlock):
    """The same block, with an input check fx cannot trace."""

    def forward(self, x):
        if x.shape[1] != self.conv1.in_channels:
            raise ValueError(f'expected {self.conv1.in_channels} channels, got {x.shape[1]}')
        return super().forward(x)


@MODELS.register_module()
class TinyNet(BaseBackbone):
    """stem, then stage1 of PlainResBlocks, a strided conv, stage2 of CheckedResBlocks."""

    def __init__(self, widths=(16, 32), depths=(3, 2), init_cfg=None):
        super().__init__(init_cfg)
        self.stem = nn.Sequential(*conv_bn(3, widths[0]), nn.ReLU())
        self.stage1 = nn.Sequential(
            *[PlainResBlock(widths[0], 2 * widths[0]) for _ in range(depths[0])])
        self.down = nn.Sequential(*conv_bn(widths[0], widths[1], stride=2), nn.ReLU())
        self.stage2 = nn.Sequential(
            *[CheckedResBlock(widths[1], 2 * widths[1]) for _ in range(depths[1])])

    def forward(self, x):
        return (self.stage2(self.down(self.stage1(self.stem(x)))), )
