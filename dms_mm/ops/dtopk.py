"""The differentiable top-k operator of DMS.

Given the importance ``c`` of N elements and a keep ratio ``k``, the soft
mask is::

    rank_i = #{j : c_j < c_i} + #{j < i : c_j == c_i}        (0 = least important)
    m_i    = sigmoid(lambda_scale * N * (rank_i / N - (1 - k) + 0.5 / N))

The rank is normalised to ``{0, 1/N, ..., (N-1)/N}`` whatever the distribution
of ``c`` (this is what makes ``k`` a real keep ratio), and it is obtained by
sorting: O(N log N) time and O(N) memory. The ``0.5 / N`` offset centres the
threshold between two ranks, so the hard mask ``m >= 0.5`` keeps exactly
``round(k * N)`` elements (halves round up), the most important ones, and no
element sits on the threshold when ``k = n / N``.

``d(sum m) / dk`` is about N: a unit step of ``k`` moves about N elements,
whatever ``lambda_scale`` is; ``lambda_scale`` only sets how sharp the mask is
(DMS uses 1 for channels and 4 for blocks and heads).

Mask values below ``MASK_FLOOR`` are set to exactly 0 (with a zero gradient).
A pruned element's sigmoid falls to 1e-30 and below as the keep ratio drops;
multiplied into activations and their gradients, such values become subnormal
floats, which x86 CPUs compute many times slower than normal ones (a search
step of the glyphs ResNet-18 at a quarter of its FLOPs took 1.8x its time at
the start). ``torch.set_flush_denormal`` cannot help: it sets only the calling
thread, not the intra-op threads of the convolutions. Below the floor an
element's contribution to the counts, to the gradient of the keep ratio and
to its Taylor score is below float32's resolution of the kept elements' ones.
"""
from typing import Union

import torch

# sigmoid((k - 0.5) * 8): the mask of a single element (N = 1).
SINGLE_ELEMENT_SLOPE = 8.0
# mask values below this are exactly 0 (see the module's docstring)
MASK_FLOOR = 1e-8


def _as_keep_tensor(keep_ratio, like: torch.Tensor) -> torch.Tensor:
    if isinstance(keep_ratio, torch.Tensor):
        return keep_ratio.to(device=like.device, dtype=torch.float32)
    return torch.tensor(float(keep_ratio), device=like.device, dtype=torch.float32)


def normalized_rank(importance: torch.Tensor) -> torch.Tensor:
    """Rank of each element along the last dimension, divided by N.

    Ties are broken by index: among equal importances, the element with the
    lower index ranks lower. Uses two stable sorts, never an N x N comparison.

    Args:
        importance (Tensor): Shape ``(..., N)``.

    Returns:
        Tensor: float32, same shape, values in ``{0, 1/N, ..., (N-1)/N}``.
    """
    n = importance.shape[-1]
    order = torch.argsort(importance, dim=-1, stable=True)
    rank = torch.empty_like(order)
    positions = torch.arange(n, device=importance.device).expand_as(order)
    rank.scatter_(-1, order, positions)
    return rank.to(torch.float32) / n


def differentiable_topk(importance: torch.Tensor,
                        keep_ratio: Union[torch.Tensor, float],
                        lambda_scale: float = 1.0) -> torch.Tensor:
    """Soft top-k mask of ``importance``, differentiable in ``keep_ratio``.

    Args:
        importance (Tensor): Shape ``(..., N)``; the last dimension holds the
            N elements, leading dimensions are independent rows (as for
            per-head dims). Larger is more important. No gradient flows to it.
        keep_ratio (Tensor | float): The kept fraction in ``[0, 1]``, a scalar.
        lambda_scale (float): Sharpness; the temperature is
            ``lambda_scale * N``. Defaults to 1.0.

    Returns:
        Tensor: The soft mask, same shape as ``importance``, in
        ``importance``'s floating dtype (float32 for integer input). Rows in
        which every importance is equal get a mask of ones (with a zero
        gradient): with no ranking information nothing is pruned.
    """
    if importance.dim() == 0:
        raise ValueError('differentiable_topk: importance must have at least one dimension')
    n = importance.shape[-1]
    if n == 0:
        raise ValueError('differentiable_topk: importance has no elements (N = 0)')
    out_dtype = importance.dtype if importance.is_floating_point() else torch.float32
    keep = _as_keep_tensor(keep_ratio, importance)
    if n == 1:
        mask = torch.sigmoid((keep - 0.5) * SINGLE_ELEMENT_SLOPE)
        return mask.expand(importance.shape).to(out_dtype)

    rank = normalized_rank(importance.detach())
    mask = torch.sigmoid(lambda_scale * n * (rank - (1.0 - keep) + 0.5 / n))
    mask = torch.where(mask < MASK_FLOOR, torch.zeros_like(mask), mask)
    # A row with all-equal importance carries no ranking: keep everything.
    # (no host sync: torch.where is applied to every row)
    flat = importance.detach()
    undecided = flat.amax(dim=-1, keepdim=True) == flat.amin(dim=-1, keepdim=True)
    mask = torch.where(undecided, torch.ones_like(mask) + 0.0 * keep, mask)
    return mask.to(out_dtype)


def hard_count(mask: torch.Tensor) -> torch.Tensor:
    """Number of kept elements (``mask >= 0.5``), as a float tensor."""
    return (mask >= 0.5).sum(dtype=torch.float32)


def straight_through_count(mask: torch.Tensor) -> torch.Tensor:
    """The hard count of ``mask`` with the gradient of its soft sum.

    ``value == hard_count(mask)`` and ``d value / d mask_i == 1``.
    """
    soft = mask.float().sum()
    return hard_count(mask) - soft.detach() + soft


def straight_through(mask: torch.Tensor) -> torch.Tensor:
    """Elementwise ``1[m >= 0.5]`` with the gradient of ``m``."""
    hard = (mask >= 0.5).to(mask.dtype)
    return hard - mask.detach() + mask
