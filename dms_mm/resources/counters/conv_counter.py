"""Resource counters of convolutions (1-, 2- and 3-d, and transposed)."""
import math

from dms_mm.registry import RESOURCE_COUNTERS

from .base_counter import BaseResourceCounter, spatial_size


@RESOURCE_COUNTERS.register_module(name='Conv2d')
class ConvCounter(BaseResourceCounter):
    """``nn.Conv2d`` and its subclasses (DMS, mmcv): kept input x kept output
    channels per group, times the kernel and the output's spatial size."""

    @staticmethod
    def channels(module):
        return module.in_channels, module.out_channels

    def _products(self, counts):
        groups = self.module.groups
        in_w, out_w = self.in_width, self.out_width
        if groups == 1:
            return in_w.count(counts) * out_w.count(counts)
        if groups == in_w.channels == out_w.channels:
            # depthwise: input and output channels are tied, one filter each
            return (out_w if out_w.searched or not in_w.searched else in_w).count(counts)
        if not self.searched:
            return float(in_w.channels * out_w.channels // groups)
        return (in_w.group_counts(counts, groups) * out_w.group_counts(counts, groups)).sum()

    def flops(self, counts):
        kernel = math.prod(self.module.kernel_size)
        return self._products(counts) * (kernel * spatial_size(self.out_shape))

    def params(self, counts):
        params = self._products(counts) * math.prod(self.module.kernel_size)
        if self.module.bias is not None:
            params = params + self.out_width.count(counts)
        return params


@RESOURCE_COUNTERS.register_module(name=['Conv1d', 'Conv3d'])
class FixedConvCounter(ConvCounter):
    """The 1-d and 3-d convolutions: no DMS op masks them, so their widths
    stay (and a latency table does not time them)."""


@RESOURCE_COUNTERS.register_module(name='_ConvTransposeNd')
class ConvTransposeCounter(FixedConvCounter):
    """Transposed convolutions (no DMS op masks them: their widths stay):
    as mmengine counts them, the kernel times the *input's* spatial size."""

    def flops(self, counts):
        kernel = math.prod(self.module.kernel_size)
        return self._products(counts) * (kernel * spatial_size(self.in_shape))
