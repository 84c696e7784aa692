"""Masked dynamic ops of DMS.

Each op multiplies its *input* by the soft mask of the channel unit feeding
it (``conv(x * m_in)``); producers are not masked, consumers are. A conv or
linear layer applies the mask to its weight's input columns instead when the
weight is the smaller tensor (``conv(x, W * m_in)``, the same function of
``x``, ``W`` and ``m_in``). The ops
subclass mmrazor's dynamic ops, so mmrazor's containers, tracers and
``to_static_op`` export (which slices weights by the hard mask) work as usual.

Their FLOPs and params are counted in :mod:`dms_mm.resources`, as those of
the layers DMS does not mask.
"""
import functools
from typing import Optional

import torch
import torch.nn.functional as F
from mmcv.cnn.bricks import Conv2dAdaptivePadding
from mmcv.cnn.bricks.transformer import AdaptivePadding
from mmcv.cnn.bricks.wrappers import Conv2d as MMCVConv2d
from mmcv.cnn.bricks.wrappers import Linear as MMCVLinear
from mmengine.model.utils import _BatchNormXd
from mmengine.utils.dl_utils.parrots_wrapper import SyncBatchNorm as EngineSyncBatchNorm
from mmpretrain.models.utils import LayerNorm2d
from mmrazor.models.architectures import dynamic_ops as razor_ops
from mmrazor.registry import MODELS
from torch import nn

from dms_mm.compat.dynamic_sync_batchnorm import register_dynamic_bn

from .channel_masks import container_mask
from .op_map import OpMap


class DMSOpMixin:
    """The input masking shared by the DMS ops."""

    @classmethod
    def convert_from(cls, module: nn.Module):
        """The DMS op of ``module``, with its weights and buffers."""
        new = super().convert_from(module)
        new.load_state_dict(module.state_dict())
        return new

    def in_mask(self) -> Optional[torch.Tensor]:
        """This forward's mask over the input channels (None: not searched)."""
        return container_mask(self.get_mutable_attr('in_channels'))

    def masked_input_and_weight(self, x: torch.Tensor, channel_dim: int = 1):
        """``(x, weight)`` with the input mask applied to the smaller of the two.

        A mask over the input channels can scale the input's channels or the
        weight's input columns: the output is the same, and so are the
        gradients of the mask, the weight and the input. The weight is usually
        far smaller than a batch of activations, so a search step then costs
        about as much as a plain one.
        """
        mask = self.in_mask()
        if mask is None:
            return x, self.weight
        if self.weight.numel() < x.numel():
            return x, masked_weight(self.weight, mask, getattr(self, 'groups', 1))
        shape = [1] * x.dim()
        shape[channel_dim] = -1
        return x * mask.to(x.dtype).view(shape), self.weight


def masked_weight(weight: torch.Tensor, mask: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """``weight`` (``(out, in / groups, *kernel)``) with each input channel ``c``
    scaled by ``mask[c]``; ``layer(x * mask, weight) == layer(x, result)``."""
    out_channels, in_per_group = weight.shape[:2]
    kernel = weight.shape[2:]
    mask = mask.to(weight.dtype).view(groups, 1, in_per_group, *([1] * len(kernel)))
    grouped = weight.view(groups, out_channels // groups, in_per_group, *kernel)
    return (grouped * mask).view_as(weight)


@functools.lru_cache(maxsize=None)
def _same_padding(kernel_size, stride, dilation) -> AdaptivePadding:
    """mmcv's TensorFlow-"same" padding of a convolution (no parameters)."""
    return AdaptivePadding(kernel_size, stride, dilation, padding='same')


@MODELS.register_module()
class DMSConv2d(DMSOpMixin, razor_ops.DynamicConv2d):
    """``nn.Conv2d`` whose input channels are masked by DMS."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, weight = self.masked_input_and_weight(x)
        return self._conv_forward(x, weight, self.bias)


@MODELS.register_module()
class DMSConv2dAdaptivePadding(DMSOpMixin, razor_ops.DynamicConv2dAdaptivePadding):
    """mmcv's ``Conv2dAdaptivePadding`` (TF "same" padding), input-masked."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, weight = self.masked_input_and_weight(x)
        x = _same_padding(tuple(weight.shape[-2:]), self.stride, self.dilation)(x)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


@MODELS.register_module()
class DMSLinear(DMSOpMixin, razor_ops.DynamicLinear):
    """``nn.Linear`` whose input features are masked by DMS.

    A mask over its outputs can be set too (:meth:`mask_outputs`, as the
    heads of an attention mask its fused ``qkv``); it scales the weight's rows
    and the bias when the weight is the smaller tensor, the output otherwise.
    """

    output_mask_of = None

    def mask_outputs(self, mask_of) -> None:
        """Multiply the outputs by ``mask_of()`` in every forward.

        Args:
            mask_of (callable): Returns this forward's mask over the outputs.
        """
        self.output_mask_of = mask_of

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, weight = self.masked_input_and_weight(x, channel_dim=-1)
        if self.output_mask_of is None:
            return F.linear(x, weight, self.bias)
        mask = self.output_mask_of().to(x.dtype)
        if weight.numel() >= x.numel() // x.shape[-1] * weight.shape[0]:
            return F.linear(x, weight, self.bias) * mask
        bias = None if self.bias is None else self.bias * mask
        return F.linear(x, weight * mask.reshape(-1, 1), bias)  # (a 0-dim mask too)


class _DMSBatchNormMixin(DMSOpMixin):
    """BatchNorm passes channels through unmasked: a pruned channel leaves as
    its bias, and every consumer masks it again. A subclass of BatchNorm
    (timm's ``BatchNormAct2d``) runs its own forward."""

    subclass_forward = 'layer'

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._original_forward(x)


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

    @classmethod
    def convert_from(cls, module: nn.LayerNorm) -> 'DMSLayerNorm':
        """The DMS op of ``module``, with or without its bias."""
        new = cls(normalized_shape=module.normalized_shape, eps=module.eps,
                  elementwise_affine=module.elementwise_affine, bias=module.bias is not None)
        new.load_state_dict(module.state_dict())
        return new

    def get_dynamic_params(self):
        """The weight and bias (each may be None) at the kept channels."""
        mask = self._get_num_features_mask()
        return tuple(None if p is None else p if mask is None else p[mask]
                     for p in (self.weight, self.bias))

    def to_static_op(self) -> nn.LayerNorm:
        static = super().to_static_op()
        if self.bias is None:  # mmrazor's builds a LayerNorm with a bias
            static.bias = None
        return static

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.in_mask()
        if mask is None:
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return MaskedLayerNorm.apply(x, mask.to(x.dtype), self.weight, self.bias, self.eps)


@MODELS.register_module()
class DMSLayerNorm2d(DMSLayerNorm):
    """mmpretrain's ``LayerNorm2d`` (over the channels of ``(N, C, H, W)``, or
    of ``(N, H, W, C)`` with ``data_format='channel_last'``) over the kept
    channels, as :class:`DMSLayerNorm`."""

    def forward(self, x: torch.Tensor, data_format: str = 'channel_first') -> torch.Tensor:
        if data_format == 'channel_last':
            return super().forward(x)
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).contiguous()

    def finish_static(self, static: nn.Module) -> None:
        """The exported ``LayerNorm2d`` records its kept width."""
        static.num_channels = static.normalized_shape[0]


class MaskedLayerNorm(torch.autograd.Function):
    """``y = LN_kept(x * m) * m`` over the last dimension, with its gradients
    written out (with respect to ``x``, ``m``, the weight and the bias).

    Per row: ``a = x * m - mean`` with ``mean = sum(x * m) / K`` and
    ``K = max(sum(m), 1)``; ``var = sum((a * m) ** 2) / K``; ``r = (var + eps) ** -0.5``;
    ``y = a * r * w * m ** 2 + b * m``. Only ``x`` and two numbers per row are
    kept for the backward, as torch's own layer norm does: the same formula
    through autograd kept five tensors of the input's size for each layer
    norm, which doubled the cost of a ViT search step at large batches.
    """

    @staticmethod
    def forward(ctx, x, mask, weight, bias, eps):
        kept_sum = mask.sum()
        kept = kept_sum.clamp_min(1.0)
        mean = (x @ mask) / kept
        a, mask2, scale = _centred(x, mask, mean, weight)
        rstd = torch.rsqrt((a * a) @ mask2 / kept + eps)
        y = a.mul_(rstd.unsqueeze(-1)).mul_(scale)
        if bias is not None:
            y = y.addcmul_(bias, mask)
        ctx.save_for_backward(x, mask, weight, bias, mean, rstd, kept_sum)
        ctx.eps = eps
        return y

    @staticmethod
    def backward(ctx, grad):
        x, mask, weight, bias, mean, rstd, kept_sum = ctx.saved_tensors
        kept = kept_sum.clamp_min(1.0)
        shape, channels = x.shape, x.shape[-1]
        x, grad = x.reshape(-1, channels), grad.reshape(-1, channels)
        mean, rstd = mean.reshape(-1), rstd.reshape(-1)
        a, mask2, scale = _centred(x, mask, mean, weight)
        grad_scaled = grad * scale
        # d loss / d var, through r, is -0.5 r^3 times this per-row sum
        g_r = (grad_scaled * a).sum(-1)
        r3_g_r = rstd.pow(3) * g_r
        grad_a = grad_scaled.mul_(rstd.unsqueeze(-1))
        grad_a.sub_(a * mask2 * (r3_g_r / kept).unsqueeze(-1))
        grad_mean_sum = grad_a.sum(-1)
        grad_xm = grad_a.sub_((grad_mean_sum / kept).unsqueeze(-1))  # d loss / d (x * m)
        grad_x = (grad_xm * mask).reshape(shape)
        # the mask: through x * m, the mean, the variance, the output scale and K
        # (sums over rows as products with a vector: einsum ran one tiny matmul per row)
        g_a_r = rstd @ (grad * a)
        grad_mask = (x * grad_xm).sum(0)
        grad_mask -= mask / kept * (r3_g_r @ (a * a))
        grad_mask += 2 * mask * g_a_r * (1.0 if weight is None else weight)
        grad_sum = grad.sum(0)
        if bias is not None:
            grad_mask += grad_sum * bias
        var = rstd.pow(-2) - ctx.eps
        grad_kept = (grad_mean_sum * mean + 0.5 * r3_g_r * var).sum() / kept
        grad_mask += torch.where(kept_sum >= 1.0, grad_kept, torch.zeros_like(grad_kept))
        grad_weight = None if weight is None else g_a_r * mask2
        grad_bias = None if bias is None else grad_sum * mask
        return grad_x, grad_mask, grad_weight, grad_bias, None


def _centred(x, mask, mean, weight):
    """``x * m - mean`` (row means), ``m ** 2`` and the output scale ``w * m ** 2``
    of :class:`MaskedLayerNorm`, in its forward and again in its backward."""
    mask2 = mask * mask
    scale = mask2 if weight is None else weight * mask2
    return torch.addcmul(mean.neg().unsqueeze(-1), x, mask), mask2, scale


# mmengine's SyncBN conversions switch these in place (dms_mm.compat.dynamic_sync_batchnorm)
register_dynamic_bn(DMSSyncBatchNorm, (DMSBatchNorm2d, DMSBatchNormXd), DMSBatchNormXd)

#: layer type -> DMS op; a subclass of one of these types gets the op of its
#: nearest registered base (see :class:`dms_mm.dynamic_ops.op_map.OpMap`).
#: mmcv's wrappers rewrite forward() only for empty inputs, so they get their
#: base's op by name; they and ``LayerNorm2d`` are exported as themselves.
DMS_OP_MAP = OpMap({
    nn.Conv2d: DMSConv2d,
    Conv2dAdaptivePadding: DMSConv2dAdaptivePadding,
    nn.Linear: DMSLinear,
    nn.BatchNorm2d: DMSBatchNorm2d,
    nn.SyncBatchNorm: DMSSyncBatchNorm,
    EngineSyncBatchNorm: DMSSyncBatchNorm,
    _BatchNormXd: DMSBatchNormXd,
    nn.LayerNorm: DMSLayerNorm,
}, rebuilt={
    MMCVConv2d: DMSConv2d,
    MMCVLinear: DMSLinear,
    LayerNorm2d: DMSLayerNorm2d,
}, name='DMS')
