"""Masked dynamic ops of DMS.

Each op multiplies its *input* by the soft mask of the channel unit feeding
it (``conv(x * m_in)``); producers are not masked, consumers are. The ops
subclass mmrazor's dynamic ops, so mmrazor's containers, tracers and
``to_static_op`` export (which slices weights by the hard mask) work as usual.

Each op also reports its soft FLOPs and params, from the input and output
shapes recorded by :func:`record_shapes` and the masks of its units.
"""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks import Conv2dAdaptivePadding
from mmcv.cnn.bricks.wrappers import Linear as MMCVLinear
from mmengine.model.utils import _BatchNormXd
from mmengine.utils.dl_utils.parrots_wrapper import SyncBatchNorm as EngineSyncBatchNorm
from mmrazor.models.architectures import dynamic_ops as razor_ops
from mmrazor.registry import MODELS
from torch import nn

from dms_mm.compat.dynamic_sync_batchnorm import register_dynamic_bn

from .resources import container_mask, count, group_counts


class DMSOpMixin:
    """Masking and resource counting shared by the DMS ops."""

    #: the input/output shapes seen by :func:`record_shapes`
    dms_in_shape: Optional[tuple] = None
    dms_out_shape: Optional[tuple] = None

    @classmethod
    def convert_from(cls, module: nn.Module):
        """The DMS op of ``module``, with its weights and buffers."""
        new = super().convert_from(module)
        new.load_state_dict(module.state_dict())
        return new

    def in_mask(self, resource: bool = False) -> Optional[torch.Tensor]:
        return container_mask(self.get_mutable_attr('in_channels'), resource)

    def out_mask(self, resource: bool = False) -> Optional[torch.Tensor]:
        return container_mask(self.get_mutable_attr('out_channels'), resource)

    def mask_input(self, x: torch.Tensor, channel_dim: int = 1) -> torch.Tensor:
        mask = self.in_mask()
        if mask is None:
            return x
        shape = [1] * x.dim()
        shape[channel_dim] = -1
        return x * mask.to(x.dtype).view(shape)

    def _check_recorded(self):
        if self.dms_in_shape is None or self.dms_out_shape is None:
            raise RuntimeError(
                f'{type(self).__name__}: no recorded shapes; the mutator records them '
                'in prepare_from_supernet (DMSMutator.record_shapes)')

    def soft_flops(self) -> torch.Tensor:
        raise NotImplementedError

    def soft_params(self) -> torch.Tensor:
        raise NotImplementedError


class _DMSConvMixin(DMSOpMixin):

    def _channel_products(self) -> torch.Tensor:
        """Sum over groups of kept-in x kept-out channels (straight-through)."""
        device = self.weight.device
        in_mask, out_mask = self.in_mask(True), self.out_mask(True)
        if self.groups == 1:
            return count(in_mask, self.in_channels, device) * count(
                out_mask, self.out_channels, device)
        if self.groups == self.in_channels == self.out_channels:
            # depthwise: input and output channels are tied, one filter each
            mask = out_mask if out_mask is not None else in_mask
            return count(mask, self.out_channels, device)
        n_in = group_counts(in_mask, self.in_channels, self.groups, device)
        n_out = group_counts(out_mask, self.out_channels, self.groups, device)
        return (n_in * n_out).sum()

    def soft_flops(self) -> torch.Tensor:
        self._check_recorded()
        spatial = math.prod(self.dms_out_shape[2:]) * self.dms_out_shape[0]
        kernel = math.prod(self.kernel_size)
        return self._channel_products() * (kernel * spatial)

    def soft_params(self) -> torch.Tensor:
        params = self._channel_products() * math.prod(self.kernel_size)
        if self.bias is not None:
            params = params + count(self.out_mask(True), self.out_channels, self.weight.device)
        return params


@MODELS.register_module()
class DMSConv2d(_DMSConvMixin, razor_ops.DynamicConv2d):
    """``nn.Conv2d`` whose input channels are masked by DMS."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(self.mask_input(x), self.weight, self.bias)



@MODELS.register_module()
class DMSConv2dAdaptivePadding(_DMSConvMixin, razor_ops.DynamicConv2dAdaptivePadding):
    """mmcv's ``Conv2dAdaptivePadding`` (TF "same" padding), input-masked."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return Conv2dAdaptivePadding.forward(self, self.mask_input(x))



@MODELS.register_module()
class DMSLinear(DMSOpMixin, razor_ops.DynamicLinear):
    """``nn.Linear`` whose input features are masked by DMS."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.mask_input(x, channel_dim=-1), self.weight, self.bias)


    def _tokens(self) -> int:
        self._check_recorded()
        return math.prod(self.dms_in_shape[:-1])

    def soft_flops(self) -> torch.Tensor:
        device = self.weight.device
        n_in = count(self.in_mask(True), self.in_features, device)
        n_out = count(self.out_mask(True), self.out_features, device)
        return n_in * n_out * self._tokens()

    def soft_params(self) -> torch.Tensor:
        device = self.weight.device
        n_in = count(self.in_mask(True), self.in_features, device)
        n_out = count(self.out_mask(True), self.out_features, device)
        params = n_in * n_out
        if self.bias is not None:
            params = params + n_out
        return params


class _DMSBatchNormMixin(DMSOpMixin):
    """BatchNorm passes channels through unmasked: a pruned channel leaves as
    its bias, and every consumer masks it again."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._original_forward(x)

    def _n(self) -> torch.Tensor:
        mask = self.out_mask(True)
        if mask is None:
            mask = self.in_mask(True)
        return count(mask, self.num_features, self.weight.device if self.affine else None)

    def soft_flops(self) -> torch.Tensor:
        self._check_recorded()
        per_channel = math.prod(self.dms_in_shape) // self.dms_in_shape[1]
        return self._n() * per_channel * (2 if self.affine else 1)

    def soft_params(self) -> torch.Tensor:
        return self._n() * 2 if self.affine else self._n() * 0



@MODELS.register_module()
class DMSBatchNorm2d(_DMSBatchNormMixin, razor_ops.DynamicBatchNorm2d):
    _original_forward = nn.BatchNorm2d.forward


@MODELS.register_module()
class DMSSyncBatchNorm(_DMSBatchNormMixin, razor_ops.DynamicSyncBatchNorm):
    _original_forward = nn.SyncBatchNorm.forward


@MODELS.register_module()
class DMSBatchNormXd(_DMSBatchNormMixin, razor_ops.DynamicBatchNormXd):
    _original_forward = _BatchNormXd.forward


@MODELS.register_module()
class DMSLayerNorm(DMSOpMixin, razor_ops.DynamicLayerNorm):
    """LayerNorm over the kept channels of the last dimension.

    ``y = LN_kept(x * m) * m``: the statistics are taken over the kept
    channels only (mean and variance weighted by the mask, normalised by its
    sum), then the affine map, then the mask again.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.in_mask()
        if mask is None:
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        mask = mask.to(x.dtype)
        kept = mask.sum().clamp_min(1.0)
        x = x * mask
        mean = x.sum(dim=-1, keepdim=True) / kept
        centred = (x - mean) * mask
        var = centred.pow(2).sum(dim=-1, keepdim=True) / kept
        y = centred / torch.sqrt(var + self.eps)
        if self.weight is not None:
            y = y * self.weight + self.bias
        return y * mask


    def _n(self) -> torch.Tensor:
        mask = self.out_mask(True)
        if mask is None:
            mask = self.in_mask(True)
        return count(mask, self.normalized_shape[-1], self.weight.device)

    def soft_flops(self) -> torch.Tensor:
        self._check_recorded()
        tokens = math.prod(self.dms_in_shape[:-1])
        return self._n() * tokens * (5 if self.elementwise_affine else 4)

    def soft_params(self) -> torch.Tensor:
        return self._n() * 2 if self.elementwise_affine else self._n() * 0


# mmengine's SyncBN conversions switch these in place (dms_mm.compat.dynamic_sync_batchnorm)
register_dynamic_bn(DMSSyncBatchNorm, (DMSBatchNorm2d, DMSBatchNormXd), DMSBatchNormXd)

#: torch/mmcv module type -> DMS op. Exact types, as mmrazor matches them.
DMS_OP_MAP = {
    nn.Conv2d: DMSConv2d,
    Conv2dAdaptivePadding: DMSConv2dAdaptivePadding,
    nn.Linear: DMSLinear,
    MMCVLinear: DMSLinear,  # mmcv's FFN builds these; exported as nn.Linear
    nn.BatchNorm2d: DMSBatchNorm2d,
    nn.SyncBatchNorm: DMSSyncBatchNorm,
    EngineSyncBatchNorm: DMSSyncBatchNorm,
    _BatchNormXd: DMSBatchNormXd,
    nn.LayerNorm: DMSLayerNorm,
}
