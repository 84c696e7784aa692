import pytest
import torch

from dms_mm.resources.latency_table import measure_latency_table
from dms_test_utils import dms_model, randomize_structure


def test_only_the_target_kind_carries_a_gradient():
    _, mutator = dms_model('resnet18')
    randomize_structure(mutator, seed=0)
    mutator.refresh_masks('track')
    both = mutator.soft_resources()
    flops_only = mutator.soft_resources(grad=('flops', ))
    assert flops_only['flops'].requires_grad and not flops_only['params'].requires_grad
    assert both['params'].requires_grad
    for kind in ('flops', 'params'):
        assert flops_only[kind].item() == both[kind].item()
    with pytest.raises(ValueError, match=r"unknown resource kinds \['latency'\]"):
        mutator.soft_resources(grad=('latency', ))


class _HostRead(RuntimeError):
    pass


@pytest.mark.parametrize('kind', ['flops', 'latency'])
def test_a_search_step_reads_nothing_back_from_the_device(monkeypatch, kind):
    """The count (FLOPs, or latency from a table), its backward and the
    importance update: no value crosses to the host (on a GPU each such read
    waits for the device)."""
    model, mutator = dms_model('resnet18')
    if kind == 'latency':
        mutator.use_latency_table(measure_latency_table(model, mutator, steps=3, iters=1,
                                                        warmup=0))
    randomize_structure(mutator, seed=1)
    mutator.refresh_masks('track')
    loss = model(torch.rand(2, 3, 32, 32)).sum()

    def forbidden(*args, **kwargs):
        raise _HostRead('a value was read back to the host')

    for name in ('__bool__', '__float__', '__int__', '__index__', 'item', 'tolist'):
        monkeypatch.setattr(torch.Tensor, name, forbidden)
    resources = mutator.soft_resources(grad=(kind, ))
    (loss + resources[kind] / mutator.supernet_resource(kind)).backward()
    updated = mutator.update_importance()
    monkeypatch.undo()
    assert int(updated) > 0
