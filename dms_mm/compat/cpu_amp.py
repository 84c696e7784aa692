"""Let ``--amp`` (mmengine's AmpOptimWrapper) train on CPU-only machines.

Problem:
    ``mmengine.optim.AmpOptimWrapper.__init__`` asserts that a GPU, NPU, MLU
    or MUSA device is available, so ``tools/train.py --amp`` stops with
    ``AssertionError: AmpOptimizerWrapper is only available training on gpu,
    npu, mlu or musa`` on a CPU, although mmengine's own ``autocast`` supports
    CPU autocast in bfloat16.

Fix:
    Only when no such device is available: build the wrapper without that
    assertion and with a disabled gradient scaler (bfloat16 keeps float32's
    exponent range and needs no loss scaling), and cast to bfloat16. Asking
    for float16 on a CPU raises a clear error, since CPU autocast only
    supports bfloat16. Nothing changes where an accelerator is present.

Versions:
    Written for mmengine 0.10.x on torch>=2.0.
"""
import functools

import torch

FIXED_FOR = {'mmengine': '>=0.10.0,<0.11.0', 'torch': '>=2.0'}

_APPLIED = False


def _has_accelerator(module) -> bool:
    return any(
        getattr(module, name)() for name in (
            'is_cuda_available', 'is_npu_available', 'is_mlu_available',
            'is_musa_available') if hasattr(module, name))


def _cpu_amp_init(original_init, wrapper_module):

    @functools.wraps(original_init)
    def __init__(self, loss_scale='dynamic', dtype=None, use_fsdp=False, **kwargs):
        if _has_accelerator(wrapper_module):
            return original_init(self, loss_scale=loss_scale, dtype=dtype,
                                 use_fsdp=use_fsdp, **kwargs)
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype, dtype)
        if dtype is not None and dtype != torch.bfloat16:
            raise ValueError(
                f'AmpOptimWrapper on a CPU: dtype={dtype} is not supported, '
                'CPU autocast only runs in bfloat16 (optim_wrapper.dtype='
                "'bfloat16', or leave it unset)")
        saved = wrapper_module.is_cuda_available
        wrapper_module.is_cuda_available = lambda: True  # skip the assertion only
        try:
            original_init(self, loss_scale=loss_scale, dtype=torch.bfloat16,
                          use_fsdp=use_fsdp, **kwargs)
        finally:
            wrapper_module.is_cuda_available = saved
        # bfloat16 needs no loss scaling: a disabled scaler passes the loss
        # and the step through unchanged.
        self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)

    __init__.__wrapped_by_dms_mm__ = True
    return __init__


def apply() -> None:
    """Patch ``AmpOptimWrapper.__init__`` for CPU-only machines. Idempotent."""
    global _APPLIED
    if _APPLIED:
        return
    from mmengine.optim.optimizer import amp_optimizer_wrapper

    cls = amp_optimizer_wrapper.AmpOptimWrapper
    if not getattr(cls.__init__, '__wrapped_by_dms_mm__', False):
        cls.__init__ = _cpu_amp_init(cls.__init__, amp_optimizer_wrapper)
    _APPLIED = True


def is_applied() -> bool:
    return _APPLIED
