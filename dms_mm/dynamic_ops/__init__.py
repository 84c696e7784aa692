from .channel_masks import container_mask
from .depth import (
                    DepthScaleHook,
                    StageInfo,
                    chained_module_lists,
                    find_stages,
                    identity_skip,
                    trace_error,
)
from .embedding import DMSEmbedding
from .layer_scale import DMSLayerScale
from .op_map import AdoptedOp, OpMap, replace_with_ops
from .ops import (
                    DMS_OP_MAP,
                    DMSBatchNorm2d,
                    DMSBatchNormXd,
                    DMSConv2d,
                    DMSConv2dAdaptivePadding,
                    DMSLayerNorm,
                    DMSLayerNorm2d,
                    DMSLinear,
                    DMSOpMixin,
                    DMSSyncBatchNorm,
)
from .registration import register_dms_op
from .rms_norm import DMSRMSNorm
from .sliced_ops import SLICED_OP_MAP

__all__ = [
    'DMS_OP_MAP', 'DMSBatchNorm2d', 'DMSBatchNormXd', 'DMSConv2d', 'DMSConv2dAdaptivePadding',
    'DMSEmbedding', 'DMSRMSNorm', 'AdoptedOp', 'DMSLayerNorm', 'DMSLayerNorm2d', 'DMSLayerScale',
    'DMSLinear', 'DMSOpMixin', 'DMSSyncBatchNorm', 'DepthScaleHook', 'OpMap', 'SLICED_OP_MAP',
    'StageInfo', 'chained_module_lists', 'container_mask', 'find_stages', 'identity_skip',
    'register_dms_op', 'replace_with_ops', 'trace_error'
]
