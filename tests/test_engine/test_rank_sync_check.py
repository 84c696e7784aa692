"""DMSSchedulerHook's check that all ranks hold the same structure: silent when
they do, and every rank stops with an error naming the mutable when they do not;
DMSExportHook refuses to write a subnet the ranks disagree on. Two CPU processes
on gloo."""
import os
from types import SimpleNamespace

from torch import nn

from dms_test_utils import spawn_gloo


def _worker(rank, world_size, out_dir):
    import torch

    from dms_mm.engine import DMSExportHook, DMSSchedulerHook
    from dms_mm.mutators import DMSMutator

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 2))
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 8, 8),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    mutable = mutator.units[-1].mutable_channel
    with torch.no_grad():  # a searched state: half the channels kept
        mutable.importance.copy_(torch.arange(mutable.num_elements, dtype=torch.float))
        mutable.keep_ratio.fill_(0.5)
    hook = DMSSchedulerHook()
    hook.check_ranks_agree(mutator, iteration=1)  # the same on both ranks
    runner = SimpleNamespace(model=SimpleNamespace(mutator=mutator), work_dir=out_dir,
                             cfg={}, logger=None)
    if rank == 1:  # as a rank that missed an all-reduce would drift
        mutable.importance[0] += 100.0
    messages = []
    for check in (lambda: hook.check_ranks_agree(mutator, iteration=2),
                  lambda: DMSExportHook().after_train(runner)):
        try:
            check()
            messages.append('no error')
        except RuntimeError as e:
            messages.append(str(e))
    with open(os.path.join(out_dir, f'rank{rank}.txt'), 'w') as f:
        f.write('\n'.join(messages + [mutator.units[-1].name]))


def test_ranks_that_drift_apart_are_stopped_together(tmp_path):
    spawn_gloo(_worker, 2, tmp_path)
    rank0, export0, unit = (tmp_path / 'rank0.txt').read_text().split('\n')
    rank1, export1, _ = (tmp_path / 'rank1.txt').read_text().split('\n')
    for message in (rank0, rank1):
        assert message.startswith('DMSSchedulerHook: at iteration 2, 1 rank(s) hold another '
                                  'structure (keep ratios, importance or hard masks) than '
                                  'rank 0'), message
    assert f'first difference on this rank: {unit} (max difference 100)' in rank1
    assert 'none on this rank' in rank0
    # the export refuses to write a subnet the ranks disagree on
    for message in (export0, export1):
        assert message.startswith('DMSExportHook: the ranks do not agree on the searched '
                                  'structure'), message
        assert 'nothing was written' in message
    assert not (tmp_path / 'dms_export').exists()
