from .depth import DepthScaleHook, StageInfo, block_scale, find_stages, identity_skip, trace_error
from .ops import (
                    DMS_OP_MAP,
                    DMSBatchNorm2d,
                    DMSBatchNormXd,
                    DMSConv2d,
                    DMSConv2dAdaptivePadding,
                    DMSLayerNorm,
                    DMSLinear,
                    DMSOpMixin,
                    DMSSyncBatchNorm,
)
from .resources import container_mask

__all__ = [
    'DMS_OP_MAP', 'DMSBatchNorm2d', 'DMSBatchNormXd', 'DMSConv2d', 'DMSConv2dAdaptivePadding',
    'DMSLayerNorm', 'DMSLinear', 'DMSOpMixin', 'DMSSyncBatchNorm', 'DepthScaleHook',
    'StageInfo', 'block_scale', 'container_mask', 'find_stages', 'identity_skip',
    'trace_error'
]
