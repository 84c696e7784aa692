"""Run-time fixes for the pinned upstream stack, one module per problem.

Each module documents the problem, the fix and the upstream versions it was
written for (``FIXED_FOR``), and offers ``apply()`` (idempotent) and
``is_applied()``. :func:`apply_all` runs when ``dms_mm`` is imported, before
anything else of dms_mm. A fix in :data:`PER_MODEL_FIXES` acts on a model
instead, where dms_mm calls it (it has no ``apply()``). ``tests/test_compat``
checks every fix and fails when an installed version leaves a fix's range.
"""
from . import (
    checkpoint_safe_globals,
    checkpoint_unreadable,
    cpu_amp,
    cpu_distributed,
    cpu_sync_batchnorm,
    dynamic_sync_batchnorm,
    mmpretrain_multimodal_transformers,
    mmrazor_groupfisher_adaptive_padding,
    mmrazor_quantization,
    mmyolo_collate_scope,
    mmyolo_mmcv_version,
    onednn_strided_1x1_nhwc,
    package_scoped_configs,
)

# mmpretrain_multimodal_transformers first: before anything imports mmpretrain's models
FIXES = (mmpretrain_multimodal_transformers, mmrazor_quantization, checkpoint_safe_globals,
         checkpoint_unreadable, cpu_distributed, cpu_amp, package_scoped_configs,
         cpu_sync_batchnorm, dynamic_sync_batchnorm, mmrazor_groupfisher_adaptive_padding,
         mmyolo_mmcv_version, mmyolo_collate_scope)
PER_MODEL_FIXES = (onednn_strided_1x1_nhwc, )


def apply_all() -> None:
    """Apply every fix in :data:`FIXES`, in order."""
    for fix in FIXES:
        fix.apply()


__all__ = ['FIXES', 'PER_MODEL_FIXES', 'apply_all']
