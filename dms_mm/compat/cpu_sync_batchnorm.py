"""Let ``torch.nn.SyncBatchNorm`` train on CPU processes (gloo).

Problem:
    ``SyncBatchNorm.forward`` raises ``ValueError: SyncBatchNorm expected
    input tensor to be on GPU or XPU or ...`` as soon as it trains in an
    initialised process group with a CPU tensor, and the kernels behind its
    synchronisation (``batch_norm_gather_stats_with_counts`` and others) have
    no CPU implementation; ``DistributedDataParallel`` refuses a CPU module
    that holds a SyncBatchNorm ("SyncBatchNorm layers only work with GPU
    modules"). So a config with SyncBN (``norm_cfg=dict(type=
    'SyncBN')``, or ``sync_bn='torch'`` for the runner) cannot run under
    ``tools/dist_train.sh`` on CPU processes, which is how the distributed
    path is tested without GPUs.

Fix:
    For CPU inputs only, while training in a process group of more than one
    rank: batch statistics over all ranks from two differentiable all-reduces
    (sum forward, sum of the gradients backward): the per-channel sums and
    the element count give the mean, then the sums of the centred squares
    give the (biased) variance. The
    gradient then flows through the all-reduce as it does through torch's own
    SyncBN: the input gradient of each rank is the gradient of the sum of all
    ranks' losses; the weight and bias gradients stay local (DDP averages
    them). The running statistics follow torch's rules (unbiased variance,
    ``momentum`` or a cumulative average). Every other case, GPU inputs
    included, runs torch's own forward unchanged. DDP's check is skipped for
    CPU modules only (it checks nothing else).

Versions:
    Written for torch 2.x (checked on 2.13).
"""
import functools

import torch

FIXED_FOR = {'torch': '>=2.0'}

_APPLIED = False


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose backward all-reduces the gradient (sum)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor, group) -> torch.Tensor:
        import torch.distributed as dist

        ctx.group = group
        total = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(total, group=group)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        import torch.distributed as dist

        grad = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(grad, group=ctx.group)
        return grad, None


def _needs_cpu_sync(module, x: torch.Tensor):
    """The process group to synchronise over, or None for torch's forward."""
    import torch.distributed as dist

    if not (module.training and x.device.type == 'cpu' and dist.is_available()
            and dist.is_initialized()):
        return None
    group = module.process_group or dist.group.WORLD
    return group if dist.get_world_size(group) > 1 else None


def cpu_sync_batch_norm(module, x: torch.Tensor, group) -> torch.Tensor:
    """Training-mode batch norm of a CPU tensor over all ranks of ``group``.

    Args:
        module (nn.SyncBatchNorm): The layer (its affine parameters, running
            statistics, ``eps`` and ``momentum``).
        x (Tensor): Input of shape ``(N, C, *)``.
        group: The process group.

    Returns:
        Tensor: The normalised input, in the dtype of ``x``.
    """
    module._check_input_dim(x)
    module._check_non_zero_input_channels(x)
    factor = 0.0 if module.momentum is None else module.momentum
    if module.track_running_stats:
        module.num_batches_tracked.add_(1)
        if module.momentum is None:
            factor = 1.0 / float(module.num_batches_tracked)

    channels = x.shape[1]
    shape = (1, channels) + (1, ) * (x.dim() - 2)
    dims = [d for d in range(x.dim()) if d != 1]
    xf = x.float()
    # two passes (mean, then the centred squares): no cancellation
    local_count = xf.new_tensor([float(x.numel() // channels)])
    sums = _SumOverRanks.apply(torch.cat([xf.sum(dims), local_count]), group)
    count = sums[-1]
    mean = sums[:channels] / count
    centred = xf - mean.view(shape)
    var = _SumOverRanks.apply(centred.pow(2).sum(dims), group) / count

    y = centred * torch.rsqrt(var + module.eps).view(shape)
    if module.affine:
        y = y * module.weight.float().view(shape) + module.bias.float().view(shape)
    if module.track_running_stats and module.running_mean is not None:
        with torch.no_grad():
            unbiased = var * count / (count - 1).clamp_min(1.0)
            module.running_mean.mul_(1 - factor).add_(mean.detach() * factor)
            module.running_var.mul_(1 - factor).add_(unbiased.detach() * factor)
    return y.to(x.dtype)


def _cpu_sync_forward(original):

    @functools.wraps(original)
    def forward(self, input: torch.Tensor) -> torch.Tensor:
        group = _needs_cpu_sync(self, input)
        if group is None:
            return original(self, input)
        return cpu_sync_batch_norm(self, input, group)

    forward.__wrapped_by_dms_mm__ = True
    return forward


def _ddp_accepts_cpu_sync_bn(original):

    @functools.wraps(original)
    def check(self, module):
        if getattr(self, 'device_type', None) == 'cpu':
            return None  # this module's SyncBatchNorm forward handles CPU tensors
        return original(self, module)

    check.__wrapped_by_dms_mm__ = True
    return check


def apply() -> None:
    """Patch ``torch.nn.SyncBatchNorm.forward`` for CPU inputs, and DDP's
    refusal of SyncBatchNorm in CPU modules. Idempotent.

    Applied before dms_mm's dynamic ops are defined, so that their SyncBN op
    (which reuses this forward) gets it too.
    """
    global _APPLIED
    if _APPLIED:
        return
    cls = torch.nn.SyncBatchNorm
    if not getattr(cls.forward, '__wrapped_by_dms_mm__', False):
        cls.forward = _cpu_sync_forward(cls.forward)
    ddp = torch.nn.parallel.DistributedDataParallel
    check = getattr(ddp, '_passing_sync_batchnorm_handle', None)
    if check is not None and not getattr(check, '__wrapped_by_dms_mm__', False):
        ddp._passing_sync_batchnorm_handle = _ddp_accepts_cpu_sync_bn(check)
    _APPLIED = True


def is_applied() -> bool:
    return _APPLIED
