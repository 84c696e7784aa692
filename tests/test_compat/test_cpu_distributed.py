"""mmengine's distributed wrapper accepts a CPU module (gloo, one process)."""
import os

import pytest
import torch
import torch.distributed as torch_dist
from mmengine.model import MMDistributedDataParallel
from torch import nn

import dms_mm  # noqa: F401
from dms_test_utils import free_port


@pytest.mark.skipif(torch.cuda.is_available(), reason='the fix only acts without CUDA')
def test_ddp_wraps_cpu_module_with_device_ids(monkeypatch):
    from mmengine.dist import utils as dist_utils

    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(free_port()))
    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.setenv('WORLD_SIZE', '1')
    # mmengine calls torch.cuda.set_device(LOCAL_RANK) here: it must not raise
    dist_utils._init_dist_pytorch('gloo')
    try:
        # the Runner passes device_ids=[LOCAL_RANK], which torch rejects for CPU modules
        model = MMDistributedDataParallel(
            module=nn.Linear(3, 2), device_ids=[int(os.environ['LOCAL_RANK'])],
            broadcast_buffers=False)
        model(torch.randn(4, 3)).sum().backward()
        assert model.module.weight.grad is not None
    finally:
        torch_dist.destroy_process_group()
