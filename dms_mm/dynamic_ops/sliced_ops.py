"""The ops of the pruning check: layers sliced to the kept channels.

Before a channel unit is searched, mmrazor prunes it at random on a copy of
the model with ops that slice their weights, and drops the unit if the
forward breaks (a reshape to a fixed width, for example). DMS's own ops mask
instead of slicing, so they cannot show such a break. :data:`SLICED_OP_MAP`
holds the slicing ops of that check: mmrazor's for the layers its check
knows, and those of the LayerNorms (over the last dimension, or the channels
of mmpretrain's ``LayerNorm2d``) that DMS searches as well.
"""
import torch
import torch.nn.functional as F
from mmcv.cnn.bricks import Conv2dAdaptivePadding
from mmcv.cnn.bricks.wrappers import Conv2d as MMCVConv2d
from mmcv.cnn.bricks.wrappers import Linear as MMCVLinear
from mmengine.model.utils import _BatchNormXd
from mmengine.utils.dl_utils.parrots_wrapper import SyncBatchNorm as EngineSyncBatchNorm
from mmpretrain.models.utils import LayerNorm2d
from mmrazor.models.architectures import dynamic_ops as razor_ops
from torch import nn

from .op_map import OpMap
from .ops import DMSLayerNorm


class SlicedLayerNorm(DMSLayerNorm):
    """LayerNorm over the last dimension, sliced to the kept channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.get_dynamic_params()
        return F.layer_norm(x, (x.shape[-1], ), weight, bias, self.eps)


class SlicedLayerNorm2d(SlicedLayerNorm):
    """mmpretrain's ``LayerNorm2d``, sliced to the kept channels."""

    def forward(self, x: torch.Tensor, data_format: str = 'channel_first') -> torch.Tensor:
        if data_format == 'channel_last':
            return super().forward(x)
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def _sliced_batch_norm(op: type) -> type:
    """mmrazor's BatchNorm op, run on any subclass of BatchNorm: BatchNorm
    keeps the shape of its input, so the slicing BatchNorm checks a subclass
    (timm's ``BatchNormAct2d``) whatever else its own forward does."""
    return type(f'Sliced{op.__name__[len("Dynamic"):]}', (op, ),
                dict(subclass_forward='op', __module__=__name__))


_SYNC = _sliced_batch_norm(razor_ops.DynamicSyncBatchNorm)

#: layer type -> slicing op of the pruning check
SLICED_OP_MAP = OpMap({
    Conv2dAdaptivePadding: razor_ops.DynamicConv2dAdaptivePadding,
    nn.Conv2d: razor_ops.DynamicConv2d,
    nn.BatchNorm2d: _sliced_batch_norm(razor_ops.DynamicBatchNorm2d),
    nn.Linear: razor_ops.DynamicLinear,
    nn.SyncBatchNorm: _SYNC,
    EngineSyncBatchNorm: _SYNC,
    _BatchNormXd: _sliced_batch_norm(razor_ops.DynamicBatchNormXd),
    nn.LayerNorm: SlicedLayerNorm,
}, rebuilt={
    MMCVConv2d: razor_ops.DynamicConv2d,
    MMCVLinear: razor_ops.DynamicLinear,
    LayerNorm2d: SlicedLayerNorm2d,
}, name='sliced')
