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

    subnet = tp_prune.tp_prune(config, checkpoint, 0.5, str(out_dir), importance='l2')

    written = json.loads((out_dir / 'subnet.json').read_text())
    assert written['format'] == 'dms_mm.subnet/1'
    res = written['resources']
    assert res['static_flops'] / res['counted_supernet_flops'] == pytest.approx(0.5, abs=0.02)
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
    tp_model, _ = tp_prune.run_torch_pruning(
        supernet, method['pruning_ratio'], 'l2', [], torch.randn(1, 3, 32, 32))
    with torch.no_grad():
        expected = tp_model.eval()(inputs)
        got = sub_model.eval()(inputs)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())


def _fake_pruning(tp_prune, monkeypatch, curve):
    """Torch-Pruning replaced by a FLOPs curve over the pruning ratio."""
    monkeypatch.setattr(tp_prune, 'run_torch_pruning',
                        lambda supernet, ratio, *args: (ratio, None))
    monkeypatch.setattr(tp_prune, 'count_static', lambda ratio, shape: (curve(ratio), 1.0))


def test_a_target_torch_pruning_jumps_over_is_taken_within_two_percent(tp_prune, monkeypatch):
    # FLOPs fall with the ratio, but jump from 1.5 % above the target to 1.5 % below it
    _fake_pruning(tp_prune, monkeypatch, lambda r: 101.5 if r < 0.5 else 98.5)
    found = tp_prune.search_pruning_ratio(None, 400.0, 0.25, 'l2', [], (1, 3, 8, 8))
    assert found['flops'] == 98.5  # the closest try within 2 %, the one below on a tie
    _fake_pruning(tp_prune, monkeypatch, lambda r: 103.0 if r < 0.5 else 97.0)
    with pytest.raises(ValueError, match='within 2% in 20 tries'):
        tp_prune.search_pruning_ratio(None, 400.0, 0.25, 'l2', [], (1, 3, 8, 8))
    # a try within 1 % is taken as before
    _fake_pruning(tp_prune, monkeypatch, lambda r: 101.5 if r < 0.5 else 99.5)
    assert tp_prune.search_pruning_ratio(None, 400.0, 0.25, 'l2', [], (1, 3, 8, 8))[
        'flops'] == 99.5
