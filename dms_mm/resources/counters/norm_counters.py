"""Resource counters of the norms (BatchNorm, LayerNorm, GroupNorm,
InstanceNorm, RMSNorm) and of mmpretrain's LayerScale: per kept channel."""
import math

from dms_mm.registry import RESOURCE_COUNTERS

from ..width import first_searched
from .base_counter import BaseResourceCounter


class _NormCounter(BaseResourceCounter):
    """A norm's channels pass through: one count, that of its searched side."""

    #: FLOPs per element without and with the affine map
    PLAIN, AFFINE = 1, 2

    def _kept(self, counts):
        return first_searched(self.out_width, self.in_width).count(counts)

    def _elements_per_channel(self) -> int:
        raise NotImplementedError

    def _affine(self) -> bool:
        return getattr(self.module, 'weight', None) is not None

    def flops(self, counts):
        per_element = self.AFFINE if self._affine() else self.PLAIN
        return self._kept(counts) * (self._elements_per_channel() * per_element)

    def params(self, counts):
        affine = sum(getattr(self.module, key, None) is not None for key in ('weight', 'bias'))
        return self._kept(counts) * affine if affine else 0.0


@RESOURCE_COUNTERS.register_module(name='_BatchNorm')
class BatchNormCounter(_NormCounter):
    """BatchNorm (1-d, 2-d, SyncBN, mmengine's ``_BatchNormXd``) in eval form:
    1 FLOP per element, 2 with the affine map."""

    @staticmethod
    def channels(module):
        return module.num_features, module.num_features

    def _elements_per_channel(self) -> int:
        return math.prod(self.in_shape) // self.in_shape[1]


@RESOURCE_COUNTERS.register_module(name='LayerNorm')
class LayerNormCounter(_NormCounter):
    """LayerNorm over one dim of channels: 4 FLOPs per element, 5 with the
    affine map. The channels may be last (``nn.LayerNorm``) or first
    (mmpretrain's ``LayerNorm2d``): every input element is one channel of one
    position."""

    PLAIN, AFFINE = 4, 5

    @staticmethod
    def channels(module):
        return module.normalized_shape[-1], module.normalized_shape[-1]

    def _elements_per_channel(self) -> int:
        return math.prod(self.in_shape) // self.module.normalized_shape[-1]


@RESOURCE_COUNTERS.register_module(name=['LayerScale', 'DMSRMSNorm'])
class LayerScaleCounter(_NormCounter):
    """mmpretrain's ``LayerScale`` and an RMSNorm
    (:class:`~dms_mm.dynamic_ops.rms_norm.DMSRMSNorm`): one parameter per
    channel; mmengine counts none of their element-wise ops (``aten::mul`` and
    the RMSNorm's mean square are not counted)."""

    PLAIN, AFFINE = 0, 0

    @staticmethod
    def channels(module):
        return module.weight.numel(), module.weight.numel()

    def _elements_per_channel(self) -> int:
        return 0


@RESOURCE_COUNTERS.register_module(name=['GroupNorm', '_InstanceNorm'])
class GroupNormCounter(_NormCounter):
    """GroupNorm and InstanceNorm (no DMS op masks them: their widths stay):
    4 FLOPs per element, 5 with the affine map, as mmengine counts them."""

    PLAIN, AFFINE = 4, 5

    @staticmethod
    def channels(module):
        channels = getattr(module, 'num_channels', None) or module.num_features
        return channels, channels

    def _elements_per_channel(self) -> int:
        return math.prod(self.in_shape) // self.in_shape[1]

