"""The mmrazor baseline (benchmarks/mmrazor_prune.py): GroupFisher's result loads
as a dms_mm subnet at the FLOPs target, and a pruner that cannot reach the target
is reported in failed.json."""
import importlib.util
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmrazor.registry import MODELS

from dms_mm.structures.export import count_static

SEARCH = 'configs/dms/efficientnet/dms_efficientnet-b0_search_digits.py'
# a few small batches and one pruning step of GroupFisher
FAST = dict(interval=5, max_iters=5, cfg_options={'train_dataloader.batch_size': 8})


@pytest.fixture(scope='module')
def mmrazor_prune(repo_root):
    spec = importlib.util.spec_from_file_location(
        'mmrazor_prune', osp.join(repo_root, 'benchmarks', 'mmrazor_prune.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def supernet(mmrazor_prune, repo_root, tmp_path_factory):
    """The search config and a checkpoint of its architecture with the initial
    weights, standing in for a trained supernet."""
    config = osp.join(repo_root, SEARCH)
    model = mmrazor_prune.build_architecture(Config.fromfile(config))
    checkpoint = str(tmp_path_factory.mktemp('supernet') / 'supernet.pth')
    torch.save(dict(state_dict=model.state_dict()), checkpoint)
    return config, checkpoint


def test_groupfisher_result_loads_as_a_dms_subnet_at_the_target(mmrazor_prune, supernet,
                                                                 tmp_path):
    config, checkpoint = supernet
    out_dir = tmp_path / 'groupfisher'

    subnet = mmrazor_prune.mmrazor_prune(config, checkpoint, 0.8, str(out_dir), **FAST)

    assert not (out_dir / 'failed.json').exists()
    written = json.loads((out_dir / 'subnet.json').read_text())
    assert written['format'] == 'dms_mm.subnet/1'
    assert subnet['units'] == written['units']
    res = written['resources']
    assert res['static_flops'] / res['counted_supernet_flops'] == pytest.approx(0.8, abs=0.016)
    assert res['target_ratio'] == 0.8
    method = res['method']
    assert method['algorithm'] == 'GroupFisherAlgorithm'
    assert method['output_difference'] <= 1e-4
    assert method['mmrazor_flops'] == res['static_flops']
    # widths only: every block kept, some unit narrower
    assert all(s['kept_blocks'] == list(range(s['num_blocks'])) for s in written['stages'])
    assert any(len(u['kept']) < u['num_channels'] for u in written['units'])

    # the retraining builds it with DMSSubModel, with the pruned weights
    cfg = Config.fromfile(config)
    with DefaultScope.overwrite_default_scope('mmrazor'):
        sub_model = MODELS.build(dict(
            type='DMSSubModel', architecture=cfg.model.architecture,
            subnet=str(out_dir / 'subnet.json'), checkpoint=str(out_dir / 'pruned.pth')))
    flops, params = count_static(sub_model, (1, 3, 32, 32))
    assert (flops, params) == (res['static_flops'], res['static_params'])


def test_a_target_groupfisher_cannot_reach_is_reported(mmrazor_prune, supernet, tmp_path):
    config, checkpoint = supernet
    out_dir = tmp_path / 'unreachable'

    # below the FLOPs left with every prunable unit at one channel (0.0039 of the
    # supernet: the input of the linear head is not pruned)
    with pytest.raises(mmrazor_prune.MMRazorPruneError, match='out of GroupFisher'):
        mmrazor_prune.mmrazor_prune(config, checkpoint, 0.001, str(out_dir), **FAST)

    failed = json.loads((out_dir / 'failed.json').read_text())
    assert failed['method'] == 'groupfisher' and failed['stage'] == 'build'
    assert 'with every prunable unit at one channel' in failed['error']
    # the Conv2dAdaptivePadding units are prunable (dms_mm.compat fixes GroupFisher)
    assert 'Conv2dAdaptivePadding' not in failed['error']
    assert not (out_dir / 'subnet.json').exists()


class _Channels:
    def __init__(self, num):
        self.current_choice = torch.ones(num, dtype=torch.bool)

    @property
    def current_mask(self):
        return self.current_choice


class _OneUnitMutator:
    """Stands in for GroupFisherChannelMutator: try_prune drops the first kept
    channel; channel i costs costs[i] FLOPs."""

    def __init__(self, costs, base):
        self.costs, self.base = costs, base
        self.mutable_units = [type('Unit', (), {})()]
        self.mutable_units[0].mutable_channel = _Channels(len(costs))

    @property
    def mask(self):
        return self.mutable_units[0].mutable_channel.current_choice

    def try_prune(self):
        mask = self.mask.clone()
        mask[int(mask.float().argmax())] = False
        self.mutable_units[0].mutable_channel.current_choice = mask

    def flops(self):
        return self.base - sum(c for c, kept in zip(self.costs, self.mask.tolist()) if not kept)


@pytest.mark.parametrize('cheap,settled,flops', [
    # 1005 before the expensive channel: 0.5 % above the target; it would make 705
    (6, True, 1005),
    # 1055 before it: too far above to stop there; the jump is taken (the check then fails)
    (5, False, 755),
])
def test_one_channel_that_jumps_over_a_close_target_is_taken_back(mmrazor_prune, cheap, settled,
                                                                   flops):
    costs = [50] * cheap + [300]
    mutator = _OneUnitMutator(costs, base=1000 + 50 * cheap + 5 + (50 if not settled else 0))
    start = mutator.flops()
    events = mmrazor_prune._PruneEvents(mutator, mutator.flops, start, 1000.0, events=1,
                                        logger='current')
    mutator.try_prune = events
    events()
    assert events.settled is settled and events.reached
    assert events.flops == flops == mutator.flops()
    assert int(mutator.mask.sum()) == (1 if settled else 0)
