"""Export of a searched RTMDet-tiny (the generic path: tracer, stage finder, to_static):
the static model computes what the searched model computes, keeps the head's convs
shared across levels, and mmengine's FLOPs count of it is DMS's soft count."""
import pytest
import torch

from dms_det_test_utils import (
    TINY_RTMDET,
    build_detector,
    dms_rtmdet,
    max_relative_error,
    tiny_architecture,
)
from dms_mm.structures import count_static, to_static
from dms_test_utils import hard_outputs, randomize_structure

SHARED = [f'bbox_head.{branch}.{level}.{i}.conv' for branch in ('cls_convs', 'reg_convs')
          for level in range(3) for i in range(2)]


@pytest.fixture(scope='module')
def searched():
    model, mutator = dms_rtmdet(size=128)
    # seed 3 removes the blocks of backbone stages 2 and 3 and narrows most units
    randomize_structure(mutator, seed=3)
    return model.eval(), mutator


@pytest.fixture(scope='module')
def static(searched):
    model, mutator = searched
    return to_static(model, mutator).eval()


def test_static_rtmdet_equals_the_hardened_searched_model(searched, static):
    model, mutator = searched
    every_module = [m for _, m in static.named_modules(remove_duplicate=False)]
    assert not any(type(m).__module__.startswith('dms_mm') for m in every_module)
    assert [m.kept_indices() for m in mutator.stages] == [[0], [], []]
    for name in ('backbone.stage2.1.blocks', 'backbone.stage3.1.blocks'):
        assert len(static.get_submodule(name)) == 0  # the CSPNeXtBlock is gone
    assert len(static.get_submodule('backbone.stage1.1.blocks')) == 1
    narrowed = [u for u in mutator.searchable_units
                if int(u.mutable_channel.current_mask.sum()) < u.num_channels]
    assert len(narrowed) > len(mutator.searchable_units) // 2
    expected, got = hard_outputs(model, mutator, static, torch.rand(2, 3, 128, 128))
    assert max_relative_error(expected, got) <= 1e-4


def test_the_head_convs_stay_shared_and_narrowed_alike(searched, static):
    _, mutator = searched
    for name in SHARED:
        level0 = name.replace(f'.{name.split(".")[2]}.', '.0.', 1)
        assert static.get_submodule(name) is static.get_submodule(level0)
        assert isinstance(static.get_submodule(name), torch.nn.Conv2d)
    # each level keeps its own BatchNorm, sliced to the shared conv's kept outputs
    conv = static.get_submodule('bbox_head.cls_convs.0.0.conv')
    for level in range(3):
        bn = static.get_submodule(f'bbox_head.cls_convs.{level}.0.bn')
        assert bn.num_features == conv.out_channels < 96
    # the neck's three outputs feed the shared conv: one width for all of them
    assert {static.get_submodule(f'neck.out_convs.{i}.conv').out_channels
            for i in range(3)} == {conv.in_channels}
    state = static.state_dict()
    assert torch.equal(state['bbox_head.reg_convs.2.1.conv.weight'],
                       state['bbox_head.reg_convs.0.1.conv.weight'])


def test_mmengine_counts_of_the_static_rtmdet_match_the_soft_count(searched, static):
    _, mutator = searched
    with torch.no_grad():
        soft = mutator.soft_resources()
    flops, params = count_static(static, (1, 3, 128, 128))
    assert flops < 0.9 * mutator.supernet_flops
    # mmengine also counts the neck's nearest upsampling and the channel attentions'
    # global pooling (one op per element); measured: 0.06 % apart
    assert flops == pytest.approx(soft['flops'].item(), rel=1e-3)
    assert params == pytest.approx(soft['params'].item(), rel=1e-6)


def test_the_supernet_count_runs_the_shared_convs_on_every_level():
    _, mutator = dms_rtmdet(size=128)
    model = build_detector(tiny_architecture(TINY_RTMDET)).eval()
    flops, params = count_static(model, (1, 3, 128, 128))
    assert mutator.supernet_flops == pytest.approx(flops, rel=1e-3)
    assert mutator.supernet_params == pytest.approx(params, rel=1e-6)
