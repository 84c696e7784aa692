import json
import os
import re

import pytest
import torch
from mmrazor.registry import MODELS

from dms_mm.dynamic_ops.attention import PrunedMultiheadAttention
from dms_mm.structures import (
    PrunedCheckpointError,
    SubnetError,
    apply_subnet,
    build_subnet,
    count_static,
    load_subnet,
    round_widths,
    scale_to_target,
    to_static,
)
from dms_mm.structures.export import _searched_mutables, export_subnet
from dms_test_utils import (
    BACKBONES,
    classifier_batch,
    classifier_config,
    dms_model,
    hard_outputs,
    randomize_structure,
    resnet18_algorithm,
)

ARCH = {name: classifier_config(name) for name in list(BACKBONES) + ['deit']}


@pytest.mark.parametrize('name', ['efficientnet-b0', 'resnet18', 'mobilenet-v2', 'deit',
                                  'resnet50'])
def test_static_model_equals_the_hardened_searched_model(name):
    model, mutator = dms_model(name)
    randomize_structure(mutator, seed=7)
    model.eval()
    static = to_static(model, mutator).eval()
    # plain modules only; a pruned attention keeps its own head dims and scale
    assert all(type(m) is PrunedMultiheadAttention for m in static.modules()
               if type(m).__module__.startswith('dms_mm'))
    assert not any(m._forward_hooks for m in static.modules())
    expected, got = hard_outputs(model, mutator, static, torch.rand(4, 3, 32, 32))
    rel = ((got - expected).norm() / expected.norm()).item()
    assert rel <= 1e-4
    removed = sum(m.num_blocks - len(m.kept_indices()) for m in mutator.stages)
    blocks = lambda net: sum(len(m) for n, m in net.named_modules()  # noqa: E731
                             if n in mutator.stage_names)
    assert blocks(model) - blocks(static) == removed > 0


@pytest.mark.parametrize('name', ['efficientnet-b0', 'resnet18', 'deit', 'resnet50'])
def test_real_flops_of_the_static_model_match_the_soft_count(name):
    model, mutator = dms_model(name)
    randomize_structure(mutator, seed=11)
    soft = mutator.soft_resources()
    flops, params = count_static(to_static(model, mutator), (1, 3, 32, 32))
    assert flops == pytest.approx(soft['flops'].item(), rel=0.01)
    assert params == pytest.approx(soft['params'].item(), rel=0.01)


def test_divisor_rounds_widths_keeping_the_most_important():
    _, mutator = dms_model('resnet18')
    randomize_structure(mutator, seed=2)
    round_widths(mutator, 8)
    for unit in mutator.searchable_units:
        mutable = unit.mutable_channel
        kept = mutable.current_mask
        assert int(kept.sum()) % 8 == 0 or int(kept.sum()) == unit.num_channels
        if 0 < int(kept.sum()) < unit.num_channels:
            assert mutable.importance[kept].min() >= mutable.importance[~kept].max()


def test_scale_to_target_lands_on_the_target_and_refuses_the_unreachable():
    _, mutator = dms_model('mobilenet-v2')
    randomize_structure(mutator, seed=4)
    reached = scale_to_target(mutator, 0.4)
    assert 0.38 <= reached <= 0.4
    assert mutator.soft_resources()['flops'].item() / mutator.supernet_flops == \
        pytest.approx(reached)
    before = [m.keep_ratio.item() for m in mutator.dms_mutables()]
    with pytest.raises(ValueError, match='cannot be reached'):
        scale_to_target(mutator, 0.0001)
    assert [m.keep_ratio.item() for m in mutator.dms_mutables()] == before


def test_scale_to_target_grows_the_widths_where_a_block_stops_the_common_factor():
    _, mutator = dms_model('resnet18')
    randomize_structure(mutator, seed=1)
    # one factor for widths and blocks stops a third of the way to 0.4: its next
    # step switches a block on
    joint = scale_to_target(mutator, 0.4, mutables=_searched_mutables(mutator))
    assert joint < 0.34
    blocks = [stage.num_kept for stage in mutator.stages]
    randomize_structure(mutator, seed=1)
    reached = scale_to_target(mutator, 0.4)
    assert 0.396 <= reached <= 0.4
    # the depth of the common factor is held; the widths keep their order
    assert [stage.num_kept for stage in mutator.stages] == blocks
    ratios = [u.mutable_channel.current_choice for u in mutator.searchable_units]
    randomize_structure(mutator, seed=1)
    drawn = [u.mutable_channel.current_choice for u in mutator.searchable_units]
    pairs = [(i, j) for i in range(len(drawn)) for j in range(len(drawn))]
    assert all(ratios[i] <= ratios[j] for i, j in pairs if drawn[i] < drawn[j])


def test_scale_to_target_rounds_up_the_widths_one_factor_cannot_move():
    _, mutator = dms_model('mobilenet-v2')
    randomize_structure(mutator, seed=7)
    one_factor = scale_to_target(mutator, 0.25, round_up=False)
    assert one_factor < 0.2455
    scaled = {id(m): float(m.keep_ratio) * m.num_elements for m in mutator.dms_mutables()}
    randomize_structure(mutator, seed=7)
    reached = scale_to_target(mutator, 0.25)
    assert 0.248 <= reached <= 0.25
    # every width within one element of its scaled ratio
    for unit in mutator.searchable_units:
        mutable = unit.mutable_channel
        assert abs(mutable.num_kept - scaled[id(mutable)]) < 1


def _export(tmp_path, name='mobilenet-v2', seed=5):
    model, mutator = dms_model(name)
    randomize_structure(mutator, seed=seed)
    subnet = build_subnet(mutator, ARCH[name], 0.5)
    subnet['mutator'] = dict(parse_cfg=dict(type='ChannelAnalyzer', tracer_type='FxTracer'),
                             depth=dict(mutator.depth_cfg, exclude=[]))
    static = to_static(model, mutator).eval()
    path = tmp_path / 'subnet.json'
    path.write_text(json.dumps(subnet))
    weights = tmp_path / 'pruned.pth'
    torch.save(dict(state_dict=static.state_dict()), weights)
    return model, mutator, static, subnet, str(path), str(weights)


def _sub_model(**kwargs):
    return MODELS.build(dict(_scope_='mmrazor', type='DMSSubModel', **kwargs))


def test_sub_model_rebuilds_the_static_model_from_config_and_files(tmp_path):
    _, _, static, subnet, path, weights = _export(tmp_path)
    assert all(u['kept'] == sorted(u['kept']) for u in subnet['units'])
    rebuilt = _sub_model(architecture=ARCH['mobilenet-v2'], subnet=path, checkpoint=weights).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), static(x))
    fresh = _sub_model(architecture=ARCH['mobilenet-v2'], subnet=path, checkpoint=weights,
                       reset_params=True)
    assert {k: v.shape for k, v in fresh.state_dict().items()} == \
        {k: v.shape for k, v in static.state_dict().items()}
    rebuilt_from_dict = _sub_model(architecture=ARCH['mobilenet-v2'], subnet=subnet)
    assert sum(p.numel() for p in rebuilt_from_dict.parameters()) == \
        sum(p.numel() for p in static.parameters())


def _unchanged(*paths):
    return {p: (os.path.getmtime(p), open(p, 'rb').read()) for p in paths}


def test_malformed_subnet_files_are_clear_errors(tmp_path):
    _, _, _, subnet, path, weights = _export(tmp_path)
    broken = tmp_path / 'broken.json'
    broken.write_text('{"format": "dms_mm.subnet/1", "units": [')
    with pytest.raises(SubnetError, match='not valid JSON'):
        load_subnet(str(broken))
    no_kept = dict(subnet, units=[{k: v for k, v in subnet['units'][0].items() if k != 'kept'}])
    with pytest.raises(SubnetError, match=r'units\[0\] lacks "kept"'):
        load_subnet(no_kept)
    with pytest.raises(SubnetError, match='"format" must be'):
        load_subnet(dict(subnet, format='other'))


HAND_EDITS = [  # (edit of a good subnet file, the error it gets)
    (lambda s: s['units'][1].update(kept=[0, 0, 1]), r'units\[1\].*"kept" lists indices \[0\] '
                                                     'more than once'),
    (lambda s: s['units'][1].update(kept=[True, 2]), r'units\[1\].*"kept" must be a list of '
                                                     'non-negative integer indices'),
    (lambda s: s['units'][1].update(kept=[1.0, 2]), r'"kept" must be a list of non-negative'),
    (lambda s: s['units'][1].update(kept=[-1, 2]), r'"kept" must be a list of non-negative'),
    (lambda s: s['units'][0].update(num_channels='32'), r'units\[0\].*"num_channels" must be a '
                                                        'positive integer'),
    (lambda s: s['stages'][0].update(kept_blocks=[0, 0]), r'stages\[0\].*"kept_blocks" lists '
                                                          r'indices \[0\] more than once'),
    (lambda s: s['stages'][0].update(removable='1'), r'stages\[0\].*"removable" must be a list'),
]


def test_hand_edited_subnet_files_are_refused_naming_file_and_key(tmp_path):
    _, _, _, subnet, path, weights = _export(tmp_path)
    for i, (edit, match) in enumerate(HAND_EDITS):
        edited = json.loads(json.dumps(subnet))
        edit(edited)
        bad = tmp_path / f'edited{i}.json'
        bad.write_text(json.dumps(edited))
        with pytest.raises(SubnetError, match=re.escape(str(bad)) + '.*' + match):
            load_subnet(str(bad))
        with pytest.raises(SubnetError, match=match):  # before DMSSubModel builds anything
            _sub_model(architecture=ARCH['mobilenet-v2'], subnet=str(bad))


def test_subnet_of_another_model_or_out_of_range_names_the_culprit(tmp_path):
    _, _, _, subnet, path, weights = _export(tmp_path)
    before = _unchanged(path, weights)
    with pytest.raises(SubnetError, match='written for another model'):
        _sub_model(architecture=ARCH['resnet18'], subnet=path)
    bad = json.loads(json.dumps(subnet))
    bad['units'][2]['kept'] = bad['units'][2]['kept'] + [10_000]
    with pytest.raises(SubnetError,
                       match=re.escape(bad['units'][2]['name']) + '.*out of range'):
        _sub_model(architecture=ARCH['mobilenet-v2'], subnet=bad)
    assert _unchanged(path, weights) == before


def test_pruned_checkpoint_of_another_structure_is_refused(tmp_path):
    _, _, _, _, path, weights = _export(tmp_path, seed=5)
    other = tmp_path / 'other'
    other.mkdir()
    _, _, _, _, _, other_weights = _export(other, seed=6)
    before = _unchanged(path, weights, other_weights)
    with pytest.raises(PrunedCheckpointError, match='checkpoint of another structure.*differ in '
                       'shape'):
        _sub_model(architecture=ARCH['mobilenet-v2'], subnet=path, checkpoint=other_weights)
    assert _unchanged(path, weights, other_weights) == before


def test_apply_subnet_rejects_unremovable_blocks():
    _, mutator = dms_model('resnet18')
    subnet = build_subnet(mutator)
    stage = [s for s in subnet['stages'] if s['removable'] == [1]][0]
    stage['kept_blocks'] = [1]  # drops block 0, which has a downsample shortcut
    with pytest.raises(SubnetError, match=r'blocks \[0\] cannot be removed'):
        apply_subnet(mutator, subnet)



def test_a_stage_can_lose_every_removable_block_and_be_rebuilt(tmp_path):
    model, mutator = dms_model('efficientnet-b0')
    randomize_structure(mutator, seed=1)
    stage = mutator.stages[2]  # backbone.layers.4: 4 removable blocks
    stage.set_kept([])
    assert stage.kept_indices() == []
    subnet = build_subnet(mutator, ARCH['efficientnet-b0'], 0.5)
    subnet['mutator'] = dict(parse_cfg=dict(type='ChannelAnalyzer'),
                             depth=dict(mutator.depth_cfg, exclude=[]))
    static = to_static(model, mutator).eval()
    torch.save(dict(state_dict=static.state_dict()), tmp_path / 'pruned.pth')
    rebuilt = _sub_model(architecture=ARCH['efficientnet-b0'], subnet=subnet,
                         checkpoint=str(tmp_path / 'pruned.pth')).eval()
    assert len(rebuilt.backbone.layers[4]) == 2
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), static(x))


def test_a_searched_deit_is_rebuilt_with_its_heads_dims_and_depth(tmp_path):
    _, mutator, static, subnet, path, weights = _export(tmp_path, 'deit', seed=3)
    assert [a['name'] for a in subnet['attention']] == mutator.attention_names
    rebuilt = _sub_model(architecture=ARCH['deit'], subnet=path, checkpoint=weights).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x, mode='tensor'), static(x, mode='tensor'))
    kept_layers = subnet['stages'][0]['kept_blocks']
    assert len(rebuilt.backbone.layers) == len(kept_layers)
    for layer, entry in zip(rebuilt.backbone.layers,
                            [subnet['attention'][i] for i in kept_layers]):
        assert layer.attn.num_heads == len(entry['kept_heads'])
        assert (layer.attn.qk_dims, layer.attn.v_dims) == (len(entry['kept_qk_dims']),
                                                           len(entry['kept_v_dims']))
    # an attention entry that does not fit this model names the culprit
    bad = json.loads(open(path).read())
    bad['attention'][0]['num_heads'] = 5
    with pytest.raises(SubnetError, match=r'attention backbone.layers.0.attn: the subnet says '
                       'num_heads 5, this model has 3'):
        _sub_model(architecture=ARCH['deit'], subnet=bad)


def test_a_search_that_ends_on_a_training_step_exports(tmp_path):
    """The masks of the last step hold its autograd graph (no validation pass
    after it hardened them): the export still copies the model."""
    algo = resnet18_algorithm(target_flops_ratio=0.5)
    randomize_structure(algo.mutator, seed=2)
    algo.set_search_state('search', 0.7)
    losses = algo(*classifier_batch(), mode='loss')
    (losses['loss'] + losses['loss_resource']).backward()
    subnet = export_subnet(algo, str(tmp_path / 'out'))
    assert (tmp_path / 'out' / 'pruned.pth').is_file()
    assert 0 < subnet['resources']['static_flops'] < subnet['resources']['counted_supernet_flops']
