import math

import pytest
import torch

from dms_mm.ops import differentiable_topk, straight_through, straight_through_count


def round_half_up(x):
    return int(math.floor(x + 0.5))


def naive_topk(importance, keep, lambda_scale=1.0):
    """O(N^2) reference: rank by pairwise comparison, ties broken by index."""
    c = importance.tolist()
    n = len(c)
    if n == 1:
        return torch.sigmoid(torch.tensor((keep - 0.5) * 8.0)).reshape(1)
    if max(c) == min(c):
        return torch.ones(n)
    rank = [sum(c[j] < c[i] for j in range(n)) + sum(c[j] == c[i] for j in range(i))
            for i in range(n)]
    x = torch.tensor(rank, dtype=torch.float32) / n
    return torch.sigmoid(lambda_scale * n * (x - (1 - keep) + 0.5 / n))


@pytest.mark.parametrize('n', [1, 2, 3, 5, 8, 16, 17, 31, 64, 100])
def test_exact_kept_count_and_they_are_the_most_important(n):
    gen = torch.Generator().manual_seed(n)
    importance = torch.rand(n, generator=gen)
    for keep in torch.linspace(0, 1, 41).tolist() + [k / n for k in range(n + 1)]:
        frac = keep * n - math.floor(keep * n)
        if abs(frac - 0.5) < 1e-4:
            continue  # an exact half: float rounding decides, either count is right
        mask = differentiable_topk(importance, keep)
        kept = mask >= 0.5
        expected = round_half_up(keep * n)
        assert int(kept.sum()) == expected, (n, keep)
        if 0 < expected < n:
            assert importance[kept].min() > importance[~kept].max()


def test_no_element_sits_on_the_threshold_at_k_over_n():
    importance = torch.randn(16)
    for k in range(17):
        mask = differentiable_topk(importance, k / 16)
        assert (mask - 0.5).abs().min() > 0.1


@pytest.mark.parametrize('lambda_scale', [1.0, 4.0])
def test_monotonic_in_keep_ratio(lambda_scale):
    importance = torch.randn(3, 24)
    previous = None
    for keep in torch.linspace(0, 1, 101):
        mask = differentiable_topk(importance, keep, lambda_scale)
        if previous is not None:
            assert torch.all(mask >= previous - 1e-7)
        previous = mask


@pytest.mark.parametrize('n', [10, 32, 128, 1000])
@pytest.mark.parametrize('keep', [0.3, 0.5, 0.77])
def test_gradient_of_mask_sum_is_about_n(n, keep):
    importance = torch.randn(n)
    keep = torch.tensor(keep, requires_grad=True)
    differentiable_topk(importance, keep).sum().backward()
    assert keep.grad.item() == pytest.approx(n, rel=0.1)


def test_gradient_of_mask_sum_with_sharper_lambda_stays_of_order_n():
    # lambda_scale=4 (depth, heads) samples the sigmoid slope coarsely: about 0.86 N
    keep = torch.tensor(0.5, requires_grad=True)
    differentiable_topk(torch.randn(64), keep, 4.0).sum().backward()
    assert 0.8 * 64 < keep.grad.item() < 1.2 * 64


def test_equals_naive_reference_with_ties():
    gen = torch.Generator().manual_seed(0)
    for trial in range(30):
        n = int(torch.randint(1, 40, (1, ), generator=gen))
        importance = torch.randint(0, 4, (n, ), generator=gen).float()  # many ties
        keep = float(torch.rand(1, generator=gen))
        for lam in (1.0, 4.0):
            ours = differentiable_topk(importance, keep, lam)
            torch.testing.assert_close(ours, naive_topk(importance, keep, lam), rtol=1e-5,
                                       atol=1e-6)


@pytest.mark.parametrize('keep', [0.9, 0.5, 0.05])
def test_pruned_elements_are_exact_zeros_never_subnormal_floats(keep):
    # a subnormal mask value times the activations slows every convolution on CPU
    importance = torch.randn(2048, generator=torch.Generator().manual_seed(0))
    keep_ratio = torch.tensor(keep, requires_grad=True)
    mask = differentiable_topk(importance, keep_ratio, 1.0)
    tiny = torch.finfo(torch.float32).tiny
    assert not ((mask > 0) & (mask < tiny)).any()
    assert (mask == 0).sum() > 0
    # far below the threshold the mask is zero, and at the threshold it is still soft
    mask.sum().backward()
    assert torch.isfinite(keep_ratio.grad) and keep_ratio.grad > 1000
    assert int((mask >= 0.5).sum()) == round(keep * 2048)


def test_ties_are_broken_by_index_deterministically():
    importance = torch.tensor([1.0, 2.0, 1.0, 1.0, 3.0])
    mask = differentiable_topk(importance, 0.6)  # keep 3
    assert (mask >= 0.5).tolist() == [False, True, False, True, True]
    assert torch.equal(mask, differentiable_topk(importance.clone(), 0.6))


def test_single_element_direction():
    importance = torch.tensor([0.3])
    low = differentiable_topk(importance, 0.0)
    high = differentiable_topk(importance, 1.0)
    assert low.item() < 0.05 and high.item() > 0.95
    keep = torch.tensor(0.5, requires_grad=True)
    differentiable_topk(importance, keep).sum().backward()
    assert keep.grad.item() > 0  # more keep, more mask


@pytest.mark.parametrize('keep', [0.0, 1.0])
@pytest.mark.parametrize('importance', [torch.zeros(8), torch.full((8, ), 3.0), torch.randn(8)])
def test_no_nan_at_the_edges(keep, importance):
    keep_t = torch.tensor(keep, requires_grad=True)
    mask = differentiable_topk(importance, keep_t)
    mask.sum().backward()
    assert torch.isfinite(mask).all() and torch.isfinite(keep_t.grad).all()


def test_all_equal_importance_keeps_everything_with_zero_gradient():
    keep = torch.tensor(0.3, requires_grad=True)
    mask = differentiable_topk(torch.zeros(6), keep)
    assert torch.equal(mask, torch.ones(6))
    mask.sum().backward()
    assert keep.grad.item() == 0.0


def test_leading_batch_dimensions_are_independent_rows():
    importance = torch.randn(4, 6, 10)
    mask = differentiable_topk(importance, 0.3)
    assert mask.shape == importance.shape
    for idx in [(0, 0), (3, 5)]:
        torch.testing.assert_close(mask[idx], differentiable_topk(importance[idx], 0.3))
    assert torch.all((mask >= 0.5).sum(-1) == 3)


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_low_precision(dtype):
    importance = torch.randn(2, 32).to(dtype)
    keep = torch.tensor(0.25, requires_grad=True)
    mask = differentiable_topk(importance, keep)
    assert mask.dtype == dtype
    assert torch.all((mask >= 0.5).sum(-1) == 8)
    mask.float().sum().backward()
    assert torch.isfinite(keep.grad)


def test_scales_to_large_n_without_quadratic_memory():
    # an N x N comparison would need 10^11 elements here
    n = 320_000
    mask = differentiable_topk(torch.randn(n), 0.25)
    assert int((mask >= 0.5).sum()) == n // 4


def test_straight_through_value_is_hard_and_gradient_is_soft():
    soft = torch.tensor([0.9, 0.6, 0.4, 0.1], requires_grad=True)
    n = straight_through_count(soft)
    assert n.item() == 2.0
    n.backward()
    assert torch.equal(soft.grad, torch.ones(4))
    st = straight_through(soft.detach().requires_grad_())
    assert st.tolist() == [1.0, 1.0, 0.0, 0.0]


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match='no elements'):
        differentiable_topk(torch.zeros(0), 0.5)
