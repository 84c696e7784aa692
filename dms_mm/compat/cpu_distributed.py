"""Let mmengine's distributed training run on CPU-only machines (gloo).

Problem:
    mmengine 0.10.x assumes one GPU per process:

    * ``mmengine.dist.utils._init_dist_pytorch`` (``--launcher pytorch``) and
      ``_init_dist_slurm`` call ``torch.cuda.set_device(local_rank)`` first,
      which raises on a machine without a CUDA driver;
    * ``Runner.wrap_model`` passes ``device_ids=[LOCAL_RANK]`` to
      ``MMDistributedDataParallel``, and torch's DistributedDataParallel
      rejects ``device_ids`` for a module on the CPU.

    So ``tools/dist_train.sh`` cannot run on CPU processes with the gloo
    backend, which is how the distributed path is tested without GPUs.

Fix:
    Only when CUDA is unavailable: make ``torch.cuda.set_device`` calls made
    by those two mmengine functions no-ops, and drop ``device_ids`` when the
    wrapped module lives on the CPU. Nothing changes on a GPU machine.

Versions:
    Written for mmengine 0.10.x on torch 2.x.
"""
import functools

import torch

FIXED_FOR = {'mmengine': '>=0.10.0,<0.11.0', 'torch': '>=2.0'}

_APPLIED = False


class _SkipCudaSetDevice:
    """Context manager: ``torch.cuda.set_device`` does nothing inside."""

    def __enter__(self):
        self._original = torch.cuda.set_device
        torch.cuda.set_device = lambda device: None

    def __exit__(self, *exc_info):
        torch.cuda.set_device = self._original
        return False


def _cpu_safe_init(init_fn):

    @functools.wraps(init_fn)
    def wrapper(*args, **kwargs):
        if torch.cuda.is_available():
            return init_fn(*args, **kwargs)
        with _SkipCudaSetDevice():
            return init_fn(*args, **kwargs)

    wrapper.__wrapped_by_dms_mm__ = True
    return wrapper


def _cpu_safe_ddp_init(ddp_init):

    @functools.wraps(ddp_init)
    def wrapper(self, module, *args, **kwargs):
        params = list(module.parameters())
        on_cpu = bool(params) and all(p.device.type == 'cpu' for p in params)
        if on_cpu:
            kwargs.pop('device_ids', None)
            kwargs.pop('output_device', None)
        return ddp_init(self, module, *args, **kwargs)

    wrapper.__wrapped_by_dms_mm__ = True
    return wrapper


def apply() -> None:
    """Patch mmengine's distributed set-up for CPU processes. Idempotent."""
    global _APPLIED
    if _APPLIED:
        return
    from mmengine.dist import utils as dist_utils
    from mmengine.model.wrappers import MMDistributedDataParallel

    for name in ('_init_dist_pytorch', '_init_dist_slurm'):
        fn = getattr(dist_utils, name)
        if not getattr(fn, '__wrapped_by_dms_mm__', False):
            setattr(dist_utils, name, _cpu_safe_init(fn))
    init = MMDistributedDataParallel.__init__
    if not getattr(init, '__wrapped_by_dms_mm__', False):
        MMDistributedDataParallel.__init__ = _cpu_safe_ddp_init(init)
    _APPLIED = True


def is_applied() -> bool:
    return _APPLIED
