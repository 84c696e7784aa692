"""AmpOptimWrapper builds and runs bfloat16 autocast on a CPU-only machine."""
import pytest
import torch
from mmengine.optim import AmpOptimWrapper, build_optim_wrapper
from torch import nn

import dms_mm  # noqa: F401

pytestmark = pytest.mark.skipif(torch.cuda.is_available(),
                                reason='the fix only acts without an accelerator')


def test_amp_wrapper_trains_in_bfloat16_on_cpu():
    model = nn.Linear(4, 2)
    wrapper = build_optim_wrapper(
        model, dict(type='AmpOptimWrapper', optimizer=dict(type='SGD', lr=0.1)))
    assert isinstance(wrapper, AmpOptimWrapper)
    assert wrapper.cast_dtype == torch.bfloat16
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        out = model(torch.randn(3, 4))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().pow(2).mean())
    assert not torch.equal(before, model.weight)
    assert model.weight.dtype == torch.float32


def test_float16_on_cpu_is_a_clear_error():
    with pytest.raises(ValueError, match='CPU autocast only runs in bfloat16'):
        build_optim_wrapper(
            nn.Linear(4, 2),
            dict(type='AmpOptimWrapper', dtype='float16', optimizer=dict(type='SGD', lr=0.1)))
