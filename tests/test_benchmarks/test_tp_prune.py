"""The Torch-Pruning baseline (benchmarks/tp_prune.py) writes a dms_mm subnet that
rebuilds Torch-Pruning's pruned model."""
import importlib.util
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmrazor.registry import MODELS

SEARCH = 'configs/dms/efficientnet/dms_efficientnet-b0_search_digits.py'


@pytest.fixture(scope='module')
def tp_prune(repo_root):
    spec = importlib.util.spec_from_file_location(
        'tp_prune', osp.join(repo_root, 'benchmarks', 'tp_prune.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_torch_pruning_result_loads_as_a_dms_subnet(tp_prune, repo_root, tmp_path):
    config = osp.join(repo_root, SEARCH)
    cfg = Config.fromfile(config)
    # a supernet with its initial weights stands in for a trained one
    supernet = tp_prune.build_supernet(cfg, None)
    checkpoint = str(tmp_path / 'supernet.pth')
    torch.save(dict(state_dict=supernet.state_dict()), checkpoint)
    out_dir = tmp_path / 'tp'

    # 0.7: fewer progressive steps than 0.5 (each counted by mmengine now and then)
    subnet = tp_prune.tp_prune(config, checkpoint, 0.7, str(out_dir), importance='l2')

    written = json.loads((out_dir / 'subnet.json').read_text())
    assert written['format'] == 'dms_mm.subnet/1'
    res = written['resources']
    assert res['static_flops'] / res['counted_supernet_flops'] == pytest.approx(0.7, abs=0.014)
    method = res['method']
    assert method['importance'] == 'GroupMagnitudeImportance(p=2)'
    assert method['global_pruning'] and 0 < method['pruning_ratio'] < 1
    assert method['ignored_layers'] == ['head.fc']
    # widths only: every block kept, some unit narrower
    assert all(s['kept_blocks'] == list(range(s['num_blocks'])) for s in written['stages'])
    assert any(len(u['kept']) < u['num_channels'] for u in written['units'])
    assert subnet['units'] == written['units']

    # the retraining builds it with DMSSubModel; it gives Torch-Pruning's outputs
    with DefaultScope.overwrite_default_scope('mmrazor'):
        sub_model = MODELS.build(dict(
            type='DMSSubModel', architecture=cfg.model.architecture,
            subnet=str(out_dir / 'subnet.json'), checkpoint=str(out_dir / 'pruned.pth')))
    inputs = torch.randn(4, 3, 32, 32)
    shape = (1, 3, 32, 32)
    flops, _ = tp_prune.count_static(supernet, shape)
    again = tp_prune.progressive_prune(supernet, flops, 0.7, 'l2', [], shape)
    assert again['steps'] == method['steps'] and again['flops'] == res['static_flops']
    with torch.no_grad():
        expected = again['model'].eval()(inputs)
        got = sub_model.eval()(inputs)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


def test_the_step_within_one_percent_is_kept_else_the_closest_within_two(tp_prune):
    pick = tp_prune.closest_to_target
    assert pick([dict(flops=100.5), dict(flops=99.6)], 100.0)['flops'] == 99.6  # at or below
    assert pick([dict(flops=101.5), dict(flops=97.0)], 100.0)['flops'] == 101.5
    assert pick([dict(flops=101.8), dict(flops=98.5)], 100.0)['flops'] == 98.5
    assert pick([dict(flops=103.0), dict(flops=97.0)], 100.0) is None


def test_a_target_beyond_the_largest_pruning_ratio_is_refused(tp_prune, repo_root,
                                                               monkeypatch):
    cfg = Config.fromfile(osp.join(repo_root, SEARCH))
    supernet = tp_prune.build_supernet(cfg, None)
    shape = (1, 3, 32, 32)
    flops, _ = tp_prune.count_static(supernet, shape)
    monkeypatch.setattr(tp_prune, 'PROGRESSIVE_STEPS', 3)  # three steps to the largest ratio
    with pytest.raises(ValueError, match='target 0.001 cannot be reached: after 3 steps'):
        tp_prune.progressive_prune(supernet, flops, 0.001, 'l2', [], shape)
