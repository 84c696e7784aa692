"""mmpretrain's ``LayerScale`` (a learnt scale per channel: DeiT3,
EfficientFormer, HorNet, the layer scale of mmpretrain's attention) as a
member of the channel unit it scales.

Like a BatchNorm, it passes its channels through unmasked (every consumer
masks them), and the export keeps the scales of the kept channels. Registered
with :func:`~dms_mm.dynamic_ops.register_dms_op`, as a user registers an op
for a layer of their own.
"""
import torch
from mmpretrain.models.utils import LayerScale
from mmrazor.models.architectures.dynamic_ops.mixins.dynamic_layernorm_mixins import (
    DynamicLayerNormMixin,
)
from mmrazor.registry import MODELS
from torch import nn

from .ops import DMSOpMixin
from .registration import register_dms_op


class _DynamicLayerScale(DynamicLayerNormMixin, LayerScale):
    """A ``LayerScale`` whose channels a mutable selects (mmrazor's channel
    containers address it as they address a LayerNorm)."""

    elementwise_affine = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mutable_attrs = nn.ModuleDict()

    @property
    def normalized_shape(self):
        return tuple(self.weight.shape)

    @classmethod
    def convert_from(cls, module: LayerScale) -> '_DynamicLayerScale':
        new = cls(module.weight.numel(), 1.0, inplace=module.inplace,
                  data_format=module.data_format)
        new.load_state_dict(module.state_dict())
        return new

    @property
    def static_op_factory(self):
        return LayerScale

    def kept_weight(self) -> torch.Tensor:
        """The scales of the kept channels."""
        mask = self._get_num_features_mask()
        return self.weight if mask is None else self.weight[mask]

    def to_static_op(self) -> LayerScale:
        weight = self.kept_weight()
        static = LayerScale(weight.numel(), 1.0, inplace=self.inplace,
                            data_format=self.data_format)
        static.weight = nn.Parameter(weight.detach().clone(),
                                     requires_grad=self.weight.requires_grad)
        return static


class SlicedLayerScale(_DynamicLayerScale):
    """The pruning check's ``LayerScale``: the kept channels' scales."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.kept_weight()
        return x * (weight.view(-1, 1, 1) if self.data_format == 'channels_first' else weight)


@register_dms_op(LayerScale, sliced_op=SlicedLayerScale)
@MODELS.register_module()
class DMSLayerScale(DMSOpMixin, _DynamicLayerScale):
    """``LayerScale`` in a DMS search: its own forward, on all channels."""

    subclass_forward = 'layer'

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return LayerScale.forward(self, x)
