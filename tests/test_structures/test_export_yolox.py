"""Export of a searched YOLOX: the static model computes what the searched model
computes, and mmengine's FLOPs count of it is DMS's soft count."""
import pytest
import torch
from mmrazor.registry import MODELS

from dms_det_test_utils import dms_yolox, max_relative_error, tiny_architecture
from dms_mm.structures import build_subnet, count_static, to_static
from dms_test_utils import hard_outputs, randomize_structure


@pytest.fixture(scope='module')
def searched():
    model, mutator = dms_yolox(size=128)
    randomize_structure(mutator, seed=5)
    return model.eval(), mutator


def test_static_yolox_equals_the_hardened_searched_model(searched):
    model, mutator = searched
    static = to_static(model, mutator).eval()
    assert not any(type(m).__module__.startswith('dms_mm') for m in static.modules())
    removed = sum(m.num_blocks - len(m.kept_indices()) for m in mutator.stages)
    blocks = lambda net: sum(len(m) for n, m in net.named_modules()  # noqa: E731
                             if n in mutator.stage_names)
    assert blocks(model) - blocks(static) == removed > 0
    narrowed = [u for u in mutator.searchable_units
                if int(u.mutable_channel.current_mask.sum()) < u.num_channels]
    assert len(narrowed) > len(mutator.searchable_units) // 2
    expected, got = hard_outputs(model, mutator, static, torch.rand(2, 3, 128, 128))
    assert max_relative_error(expected, got) <= 1e-4


def test_mmengine_flops_of_the_static_yolox_match_the_soft_count(searched):
    model, mutator = searched
    with torch.no_grad():
        soft = mutator.soft_resources()
    flops, params = count_static(to_static(model, mutator), (1, 3, 128, 128))
    assert flops < 0.9 * mutator.supernet_flops
    # mmengine also counts the neck's nearest upsampling (one op per output element)
    assert flops == pytest.approx(soft['flops'].item(), rel=1e-3)
    assert params == pytest.approx(soft['params'].item(), rel=1e-6)


def test_sub_model_rebuilds_the_static_yolox_from_the_subnet(searched, tmp_path):
    model, mutator = searched
    static = to_static(model, mutator).eval()
    weights = tmp_path / 'pruned.pth'
    torch.save(dict(state_dict=static.state_dict()), weights)
    architecture = dict(tiny_architecture(), _scope_='mmdet')
    subnet = build_subnet(mutator, architecture, 0.5)
    subnet['mutator'] = dict(parse_cfg=dict(type='ChannelAnalyzer', tracer_type='FxTracer'),
                             depth=dict(mutator.depth_cfg, exclude=[]))
    rebuilt = MODELS.build(dict(_scope_='mmrazor', type='DMSSubModel', architecture=architecture,
                                subnet=subnet, checkpoint=str(weights))).eval()
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        assert max_relative_error(static(x), rebuilt(x)) == 0.0
