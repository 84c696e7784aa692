"""RMSNorm (Llama's, and any norm built as ``Norm(hidden_size, eps=...)`` that
holds only a ``weight``) over the kept channels.

The statistic of an RMSNorm is the mean square over its channels, so a pruned
channel cannot simply be zeroed: the exported norm divides by the kept
channels only. The op takes the mean square over the kept channels (weighted
by the mask, divided by its sum), as :class:`~dms_mm.dynamic_ops.DMSLayerNorm`
does for the mean and variance, so that the searched model under hard masks
computes what the export computes.
"""
import torch
from mmrazor.models.architectures.dynamic_ops.mixins.dynamic_layernorm_mixins import (
    DynamicLayerNormMixin,
)
from mmrazor.registry import MODELS
from torch import nn

from .ops import DMSOpMixin


@MODELS.register_module()
class DMSRMSNorm(DMSOpMixin, DynamicLayerNormMixin, nn.Module):
    """An RMSNorm in a DMS search: ``y = w * (x * m) / sqrt(sum(m x^2) / sum(m) + eps)``,
    in float32 as transformers' RMSNorms compute it.

    Args:
        num_features (int): Channels.
        eps (float): Added to the mean square.
        static_type (type): The norm class the export builds, as
            ``static_type(kept_channels, eps=eps)``.
    """

    elementwise_affine = True

    def __init__(self, num_features: int, eps: float, static_type: type) -> None:
        nn.Module.__init__(self)
        self.weight = nn.Parameter(torch.ones(num_features))
        self.eps = float(eps)
        self.static_type = static_type
        self.mutable_attrs = nn.ModuleDict()

    @property
    def normalized_shape(self):
        return tuple(self.weight.shape)

    @property
    def static_op_factory(self):
        return self.static_type

    @classmethod
    def convert_from(cls, module: nn.Module) -> 'DMSRMSNorm':
        eps = getattr(module, 'variance_epsilon', getattr(module, 'eps', None))
        if eps is None or getattr(module, 'weight', None) is None:
            raise TypeError(f'DMSRMSNorm: {type(module).__name__} has no weight or no eps '
                            '(variance_epsilon)')
        new = cls(module.weight.numel(), eps, type(module))
        new.weight.data.copy_(module.weight.data)
        new.weight.requires_grad_(module.weight.requires_grad)
        return new

    def to_static_op(self) -> nn.Module:
        mask = self._get_num_features_mask()
        weight = self.weight if mask is None else self.weight[mask]
        static = self.static_type(weight.numel(), eps=self.eps)
        static.weight = nn.Parameter(weight.detach().clone(),
                                     requires_grad=self.weight.requires_grad)
        return static.to(weight.device)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype, h = x.dtype, x.float()
        mask = self.in_mask()
        if mask is None:
            mean_square = h.pow(2).mean(-1, keepdim=True)
        else:
            mask = mask.float()
            h = h * mask
            mean_square = h.pow(2).sum(-1, keepdim=True) / mask.sum().clamp_min(1.0)
        return self.weight * (h * torch.rsqrt(mean_square + self.eps)).to(dtype)

    def extra_repr(self) -> str:
        return f'{self.weight.numel()}, eps={self.eps}, exported as {self.static_type.__name__}'
