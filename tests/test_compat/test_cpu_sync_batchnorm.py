"""SyncBatchNorm trains on CPU processes (gloo), inside mmengine's DDP wrapper:
its output, its gradients and its running statistics are those of one
BatchNorm over the whole batch of all ranks. Two processes with batches of
different sizes."""
import os

import torch
from torch import nn

from dms_mm.compat import cpu_sync_batchnorm
from dms_test_utils import spawn_gloo

WORLD_SIZE = 2


def _data(world_size):
    """Every rank's input and loss weights (each rank draws them all)."""
    gen = torch.Generator().manual_seed(1)
    inputs = [torch.randn(2 + r, 4, 3, 3, generator=gen) * 3 + 1 for r in range(world_size)]
    weights = [torch.randn(2 + r, 4, 3, 3, generator=gen) for r in range(world_size)]
    return inputs, weights


def _layer(cls):
    layer = cls(4, momentum=0.2)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        layer.weight.copy_(torch.rand(4, generator=gen) + 0.5)
        layer.bias.copy_(torch.rand(4, generator=gen) - 0.5)
    return layer


def _worker(rank, world_size, out_dir):
    from mmengine.model import MMDistributedDataParallel

    import dms_mm  # noqa: F401  (applies the fix)

    inputs, weights = _data(world_size)
    layer = _layer(nn.SyncBatchNorm)
    # torch's DDP refuses a CPU module with SyncBatchNorm without the fix
    model = MMDistributedDataParallel(module=layer, broadcast_buffers=False)
    x = inputs[rank].clone().requires_grad_(True)
    out = model(x)
    (out * weights[rank]).sum().backward()
    torch.save(dict(out=out.detach(), grad=x.grad, weight_grad=layer.weight.grad,
                    bias_grad=layer.bias.grad, running_mean=layer.running_mean,
                    running_var=layer.running_var),
               os.path.join(out_dir, f'rank{rank}.pth'))


def test_sync_batchnorm_on_cpu_is_batchnorm_over_all_ranks(tmp_path):
    assert cpu_sync_batchnorm.is_applied()
    spawn_gloo(_worker, WORLD_SIZE, tmp_path)
    ranks = [torch.load(tmp_path / f'rank{r}.pth') for r in range(WORLD_SIZE)]

    inputs, weights = _data(WORLD_SIZE)
    reference = _layer(nn.BatchNorm2d)
    x = torch.cat(inputs).requires_grad_(True)
    out = reference(x)
    (out * torch.cat(weights)).sum().backward()  # the loss of all ranks together

    sizes = [len(i) for i in inputs]
    for rank, got, want_out, want_grad in zip(range(WORLD_SIZE), ranks, out.split(sizes),
                                               x.grad.split(sizes)):
        torch.testing.assert_close(got['out'], want_out.detach(), rtol=1e-5, atol=1e-5)
        # the input gradient carries every rank's loss, through the statistics
        torch.testing.assert_close(got['grad'], want_grad, rtol=1e-4, atol=1e-5)
        # DDP averages the weight gradients over the ranks
        torch.testing.assert_close(got['weight_grad'], reference.weight.grad / WORLD_SIZE,
                                   rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(got['bias_grad'], reference.bias.grad / WORLD_SIZE,
                                   rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(got['running_mean'], reference.running_mean)
        torch.testing.assert_close(got['running_var'], reference.running_var)


def test_outside_a_process_group_it_is_torch_batchnorm():
    layer, reference = _layer(nn.SyncBatchNorm), _layer(nn.BatchNorm2d)
    x = _data(1)[0][0]
    torch.testing.assert_close(layer(x), reference(x))
