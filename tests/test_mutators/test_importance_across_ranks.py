"""Importance is averaged across ranks after backward (one all-reduce), so every
rank keeps the same ranking. Two CPU processes on gloo."""
import os

import torch
from torch import nn

from dms_test_utils import spawn_gloo


def _worker(rank, world_size, out_dir):
    import dms_mm  # noqa: F401
    from dms_mm.mutators import DMSMutator

    torch.manual_seed(0)  # the same model on every rank
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, padding=1), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 2))
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 8, 8),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    torch.manual_seed(100 + rank)  # different data on every rank
    grads, masks = [], []
    for _ in range(3):
        mutator.refresh_masks('track')
        model(torch.randn(4, 3, 8, 8)).pow(2).sum().backward()
        grads.append([m._grad.clone() for m in mutator.dms_mutables()])
        masks.append([m._tracked_mask.clone() for m in mutator.dms_mutables()])
        mutator.update_importance()
    torch.save(dict(importance=[m.importance for m in mutator.dms_mutables()],
                    grads=grads, masks=masks), os.path.join(out_dir, f'rank{rank}.pth'))


def test_importance_is_identical_on_every_rank_and_is_the_mean(tmp_path):
    spawn_gloo(_worker, 2, tmp_path)
    r0 = torch.load(tmp_path / 'rank0.pth')
    r1 = torch.load(tmp_path / 'rank1.pth')
    for a, b in zip(r0['importance'], r1['importance']):
        torch.testing.assert_close(a, b)
    # the local gradients differed, so the agreement comes from the reduction ...
    assert any(not torch.allclose(a, b) for a, b in zip(r0['grads'][0], r1['grads'][0]))
    # ... and it is the EMA of the mean of the ranks' Taylor scores
    for i, got in enumerate(r0['importance']):
        expected = torch.zeros_like(got)
        for step in range(3):
            mask = r0['masks'][step][i]
            score = ((mask * r0['grads'][step][i])**2 + (mask * r1['grads'][step][i])**2) / 2
            if score.max() != score.min():
                expected = 0.99 * expected + 0.01 * score
        torch.testing.assert_close(got, expected)


def _branch_worker(rank, world_size, out_dir):
    from types import SimpleNamespace

    import dms_mm  # noqa: F401
    from dms_mm.mutables import DMSMutableChannel
    from dms_mm.mutators import DMSMutator

    used, branch = DMSMutableChannel(4), DMSMutableChannel(6)
    mutator = SimpleNamespace(dms_mutables=lambda: [used, branch])
    weights = torch.arange(1.0, 11.0) * (rank + 1)  # different gradients on each rank
    for mutable in (used, branch):
        mutable.refresh('track')
    loss = (used.mask * weights[:4]).sum()
    if rank == 0:  # rank 1's data never takes the branch
        loss = loss + (branch.mask * weights[4:]).sum()
    loss.backward()
    updated = DMSMutator.update_importance(mutator)
    torch.save(dict(updated=updated, used=used.importance, branch=branch.importance),
               os.path.join(out_dir, f'branch{rank}.pth'))


def test_a_branch_one_rank_does_not_take_keeps_the_layout_and_its_own_mean(tmp_path):
    spawn_gloo(_branch_worker, 2, tmp_path)
    r0, r1 = (torch.load(tmp_path / f'branch{rank}.pth') for rank in (0, 1))
    assert r0['updated'] == r1['updated'] == 2
    weights = torch.arange(1.0, 11.0)
    # every mask value is 1 at keep ratio 1, so the Taylor score is the squared gradient
    for r in (r0, r1):
        torch.testing.assert_close(r['used'], 0.01 * (weights[:4]**2 + (2 * weights[:4])**2) / 2)
        # the branch's score is rank 0's alone, not halved by the rank without one
        torch.testing.assert_close(r['branch'], 0.01 * weights[4:]**2)
