import copy

import pytest
import torch

from dms_mm.mutables import DMSMutableBlocks, DMSMutableChannel


def test_keep_ratio_is_a_float32_parameter_whatever_the_config():
    mutable = DMSMutableChannel(8, max_keep=1)  # an int, as configs often say
    assert mutable.keep_ratio.dtype == torch.float32
    assert mutable.keep_ratio.requires_grad
    assert 'importance' in dict(mutable.named_buffers())


def test_group_size_shares_one_element_per_group():
    mutable = DMSMutableChannel(12, group_size=4)
    assert mutable.num_elements == 3
    mutable.importance.copy_(torch.tensor([3.0, 1.0, 2.0]))
    mutable.current_choice = 2 / 3
    assert mutable.current_mask.tolist() == [True] * 4 + [False] * 4 + [True] * 4
    assert mutable.channel_mask.shape == (12, )
    with pytest.raises(ValueError, match='divide num_channels'):
        DMSMutableChannel(10, group_size=4)


def test_clamp_keeps_at_least_one_channel_and_blocks_may_all_go():
    channels = DMSMutableChannel(10, min_keep=0.0)
    channels.importance.copy_(torch.arange(10.0))
    with torch.no_grad():
        channels.keep_ratio.fill_(-3.0)
    channels.clamp_()
    assert channels.keep_ratio.item() == pytest.approx(0.1)
    assert int(channels.current_mask.sum()) == 1
    with torch.no_grad():
        channels.keep_ratio.fill_(7.0)
    channels.clamp_()
    assert channels.keep_ratio.item() == 1.0

    blocks = DMSMutableBlocks(3)
    blocks.importance.copy_(torch.tensor([1.0, 2.0, 3.0]))
    with torch.no_grad():
        blocks.keep_ratio.fill_(-1.0)
    blocks.clamp_()
    assert blocks.keep_ratio.item() == 0.0 and blocks.kept_indices() == []


@pytest.mark.parametrize('lambda_scale', [1.0, 4.0])
@pytest.mark.parametrize('min_keep', [0.0, 0.05])
def test_the_floor_keeps_exactly_one_element_for_every_width(lambda_scale, min_keep):
    # every N up to 2048, at the floor: never zero width (an export could not be built)
    for n in range(1, 2049):
        mutable = DMSMutableChannel(n, min_keep=min_keep, lambda_scale=lambda_scale)
        mutable.importance.copy_(torch.randperm(n).float())
        with torch.no_grad():
            mutable.keep_ratio.fill_(-1.0)
        mutable.clamp_()
        kept = int(mutable.compute_hard_mask().sum())
        assert kept >= 1, f'N={n}: zero width at the floor'
        # round(min_keep * N) (a half may go either way in float32), at least one
        assert abs(kept - max(1.0, min_keep * n)) <= 0.5 + 1e-6, f'N={n}: {kept} kept'


def test_one_mask_per_forward_shared_by_consumers_updates_importance_once():
    mutable = DMSMutableChannel(4)
    mutable.importance.copy_(torch.tensor([4.0, 3.0, 2.0, 1.0]))
    mask = mutable.refresh('track')
    # two consumers read the same cached mask
    a = (mutable.channel_mask * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum()
    b = (mutable.channel_mask * torch.tensor([1.0, 1.0, 1.0, 1.0])).sum()
    (a + b).backward()
    grad = torch.tensor([2.0, 3.0, 4.0, 5.0])  # d(a+b)/dm, the whole gradient
    score = mutable.pop_taylor_score()
    torch.testing.assert_close(score, (mask.detach() * grad)**2)
    before = mutable.importance.clone()
    assert mutable.update_importance(score)
    torch.testing.assert_close(mutable.importance, 0.99 * before + 0.01 * score)
    assert mutable.pop_taylor_score() is None  # consumed: once per step


def test_amp_loss_scale_is_removed():
    scores = []
    for scale in (1.0, 1024.0):
        mutable = DMSMutableChannel(3)
        mutable.importance.copy_(torch.tensor([1.0, 2.0, 3.0]))
        mutable.refresh('track')
        (mutable.channel_mask * torch.tensor([1.0, -2.0, 0.5]) * scale).sum().backward()
        scores.append(mutable.pop_taylor_score(loss_scale=scale))
    torch.testing.assert_close(scores[0], scores[1])


def test_non_finite_or_flat_scores_are_skipped():
    mutable = DMSMutableChannel(3)
    before = mutable.importance.clone()
    assert not mutable.update_importance(torch.tensor([1.0, float('nan'), 2.0]))
    assert not mutable.update_importance(torch.tensor([0.0, 0.0, 0.0]))
    assert torch.equal(mutable.importance, before)


def test_resource_mask_is_a_separate_graph_without_the_hook():
    mutable = DMSMutableChannel(4)
    mutable.importance.copy_(torch.tensor([4.0, 3.0, 2.0, 1.0]))
    mutable.refresh('track')
    mutable.resource_mask().sum().backward()  # the resource loss path
    assert mutable.pop_taylor_score() is None
    assert mutable.keep_ratio.grad is not None


def test_frozen_mutable_gives_hard_masks_and_no_gradient():
    blocks = DMSMutableBlocks(4)
    blocks.importance.copy_(torch.tensor([1.0, 4.0, 2.0, 3.0]))
    blocks.current_choice = 0.5
    blocks.freeze()
    mask = blocks.refresh('track')
    assert mask.tolist() == [0.0, 1.0, 0.0, 1.0]
    assert not mask.requires_grad and not blocks.keep_ratio.requires_grad
    assert blocks.kept_indices() == [1, 3]


def test_eval_mode_masks_are_hard():
    mutable = DMSMutableChannel(6)
    mutable.importance.copy_(torch.arange(6.0))
    mutable.current_choice = 0.5
    assert set(mutable.refresh('hard').tolist()) == {0.0, 1.0}
    assert mutable.refresh('hard').tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]


def test_set_kept_fixes_exactly_those_elements_even_none_or_all():
    blocks = DMSMutableBlocks(4)
    for kept in ([], [2], [0, 3], [0, 1, 2, 3]):
        blocks.set_kept(kept)
        assert blocks.kept_indices() == kept
    with pytest.raises(IndexError, match='kept indices'):
        blocks.set_kept([4])


def test_a_repeated_mutable_follows_its_source_through_a_deep_copy():
    """A layer that reads each channel four times (Swin's patch merging) gets
    the source's hard mask repeated; a deep copy (the export check's) reads
    the copied source, not the original."""
    from torch import nn

    source = DMSMutableChannel(4)
    holder = nn.Module()
    holder.source = source
    holder.repeated = source.expand_mutable_channel(3)
    copied = copy.deepcopy(holder)
    copied.source.set_kept([1, 3])
    assert copied.repeated.current_mask.tolist() == [False] * 3 + [True] * 3 + [False] * 3 + \
        [True] * 3
    assert holder.repeated.current_mask.all()  # the original is untouched
    assert copied.repeated.source_mutables == {copied.source}
    with pytest.raises(ValueError, match='whole number'):
        source.expand_mutable_channel(1.5)
