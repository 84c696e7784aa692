from .channel_masks import container_mask
from .depth import (
                    DepthScaleHook,
                    StageInfo,
                    chained_module_lists,
                    find_stages,
                    identity_skip,
                    trace_error,
)
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

__all__ = [
    'DMS_OP_MAP', 'DMSBatchNorm2d', 'DMSBatchNormXd', 'DMSConv2d', 'DMSConv2dAdaptivePadding',
    'DMSLayerNorm', 'DMSLinear', 'DMSOpMixin', 'DMSSyncBatchNorm', 'DepthScaleHook',
    'StageInfo', 'chained_module_lists', 'container_mask', 'find_stages', 'identity_skip',
    'trace_error'
]
