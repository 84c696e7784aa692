"""Mutables of DMS: one learnable keep ratio each, turned into a soft mask by
the differentiable top-k over element importances.

* :class:`DMSMutableChannel`: the width of one channel unit (``group_size``
  consecutive channels share one element);
* :class:`DMSMutableBlocks`: the depth of one stage (one element per
  removable block).

Each forward, the mutator calls :meth:`DMSMutableMixin.refresh` once, and every
consumer reads the same cached mask, so the Taylor importance of an element
sees the whole gradient of the task loss, once per step. The resource count
uses :meth:`DMSMutableMixin.resource_mask`, a separate, hook-free graph, so
the resource loss never feeds importance.
"""
from typing import Optional

import torch
from mmrazor.models.mutables import BaseMutable, DerivedMutable
from mmrazor.models.mutables.mutable_channel import BaseMutableChannel
from mmrazor.registry import MODELS
from torch import nn

from dms_mm.ops import differentiable_topk

MASK_MODES = ('soft', 'track', 'hard')


class DMSMutableMixin:
    """Keep ratio, importance and mask caching shared by the DMS mutables.

    The class using it must be an ``nn.Module`` and call :meth:`_init_dms`.
    """

    def _init_dms(self, num_elements: int, lambda_scale: float, min_keep: float,
                  max_keep: float, ema_decay: float) -> None:
        if num_elements < 1:
            raise ValueError(f'{type(self).__name__}: needs at least one element, '
                             f'got {num_elements}')
        if not 0.0 <= min_keep <= max_keep <= 1.0:
            raise ValueError(f'{type(self).__name__}: need 0 <= min_keep <= max_keep <= 1, '
                             f'got min_keep={min_keep}, max_keep={max_keep}')
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f'{type(self).__name__}: ema_decay must be in [0, 1), '
                             f'got {ema_decay}')
        self.num_elements = int(num_elements)
        self.lambda_scale = float(lambda_scale)
        self.min_keep = float(min_keep)
        self.max_keep = float(max_keep)
        self.ema_decay = float(ema_decay)
        # float32 whatever the config says (an int default would make it int64)
        self.keep_ratio = nn.Parameter(torch.tensor(float(max_keep), dtype=torch.float32))
        self.register_buffer('importance', torch.zeros(self.num_elements, dtype=torch.float32))
        # 'hard' after the structure is frozen (refine phase for depth, or fixed)
        self.frozen = False
        self._mask: Optional[torch.Tensor] = None
        self._mask_mode: Optional[str] = None
        self._grad: Optional[torch.Tensor] = None
        self._tracked_mask: Optional[torch.Tensor] = None

    # ----------------------------------------------------------------- masks
    def lower_keep_bound(self) -> float:
        """The smallest keep ratio :meth:`clamp_` allows."""
        return self.min_keep

    def compute_soft_mask(self) -> torch.Tensor:
        """A fresh soft mask over the elements (no caching, no hook)."""
        return differentiable_topk(self.importance, self.keep_ratio, self.lambda_scale)

    def compute_hard_mask(self) -> torch.Tensor:
        """``1[soft mask >= 0.5]`` as a float tensor without gradient."""
        with torch.no_grad():
            return (self.compute_soft_mask() >= 0.5).float()

    def refresh(self, mode: str) -> torch.Tensor:
        """Compute this forward's mask, which every consumer then shares.

        Args:
            mode (str): ``'track'``: soft, and the gradient reaching it is kept
                for the importance update (training); ``'soft'``: soft, no
                tracking; ``'hard'``: 0/1 masks (evaluation, frozen structure).

        Returns:
            Tensor: The mask over the elements.
        """
        if mode not in MASK_MODES:
            raise ValueError(f'mask mode must be one of {MASK_MODES}, got {mode!r}')
        training_forward = mode != 'hard'
        if self.frozen:
            mode = 'hard'
        if mode == 'hard':
            mask = self.compute_hard_mask()
            if (training_forward and self.frozen and self.keep_ratio.requires_grad
                    and torch.is_grad_enabled()):
                # frozen in the middle of a run (see freeze): the same values, and
                # a zero gradient to the keep ratio, which DDP then finds used
                mask = mask + 0.0 * self.keep_ratio
        else:
            mask = self.compute_soft_mask()
            if mode == 'track' and mask.requires_grad:
                self._tracked_mask = mask.detach()
                mask.register_hook(self._accumulate_grad)
        self._mask, self._mask_mode = mask, mode
        return mask

    @property
    def mask(self) -> torch.Tensor:
        """This forward's mask over the elements (computed if none is cached)."""
        if self._mask is None:
            self.refresh('hard' if not self.training else 'soft')
        return self._mask

    def resource_mask(self) -> torch.Tensor:
        """The mask the resource count uses: same values as :attr:`mask`, but a
        fresh graph without the importance hook. A resource count computes it
        once per mutable (:class:`~dms_mm.resources.MutableCounts`)."""
        if self.frozen or self._mask_mode == 'hard':
            return self.compute_hard_mask()
        return self.compute_soft_mask()

    def clear_cache(self) -> None:
        self._mask = None
        self._mask_mode = None

    # ------------------------------------------------------------ importance
    def _accumulate_grad(self, grad: torch.Tensor) -> None:
        grad = grad.detach().float()
        self._grad = grad if self._grad is None else self._grad + grad

    def pop_taylor_score(self, loss_scale: float = 1.0) -> Optional[torch.Tensor]:
        """The Taylor score ``(m * dL/dm)^2`` of this step, and forget it.

        Args:
            loss_scale (float): The AMP loss scale the gradient carries.

        Returns:
            Tensor | None: One score per element, None if no gradient came.
        """
        if self._grad is None or self._tracked_mask is None:
            self._grad = None
            return None
        score = (self._tracked_mask * (self._grad / loss_scale)).pow(2)
        self._grad = None
        return score

    @torch.no_grad()
    def update_importance(self, score: torch.Tensor) -> torch.Tensor:
        """EMA update ``c <- decay * c + (1 - decay) * score``.

        Skipped when ``score`` has NaN/Inf, or is all equal (no ranking
        information, e.g. a zero gradient). Decided on the device, so a step
        does not wait for it.

        Returns:
            Tensor: Whether it was updated, a 0-dim bool tensor (reading its
            value waits for the device).
        """
        score = score.to(self.importance)
        updated = torch.isfinite(score).all() & (score.amax() > score.amin())
        ema = self.importance * self.ema_decay + score * (1.0 - self.ema_decay)
        self.importance.copy_(torch.where(updated, ema, self.importance))
        return updated

    @torch.no_grad()
    def clamp_(self) -> None:
        """Clamp the keep ratio into ``[lower_keep_bound(), max_keep]``."""
        self.keep_ratio.clamp_(self.lower_keep_bound(), self.max_keep)

    def freeze(self, keep_in_graph: bool = False) -> None:
        """Fix the structure: hard masks from now on.

        Args:
            keep_in_graph (bool): Keep ``keep_ratio`` requiring a gradient,
                tied to the hard mask by a zero gradient. This is for a freeze
                in the middle of a run (the refine phase): DistributedDataParallel
                was built expecting a gradient for every parameter that required
                one, and one that stops getting it fails the next step
                ("Expected to have finished reduction in the prior iteration").
                The zero gradient must be dropped before the optimizer step, so
                that momentum cannot move the frozen keep ratio;
                :class:`~dms_mm.engine.DMSSchedulerHook` does. False: no
                gradient at all. Defaults to False.
        """
        self.frozen = True
        if not keep_in_graph:
            self.keep_ratio.requires_grad_(False)

    @torch.no_grad()
    def set_keep_count(self, count: int) -> None:
        """Keep exactly the ``count`` most important elements."""
        if not 0 <= count <= self.num_elements:
            raise ValueError(f'{type(self).__name__}: keep count {count} is outside '
                             f'[0, {self.num_elements}]')
        self.keep_ratio.fill_(count / self.num_elements)

    @torch.no_grad()
    def set_kept(self, indices) -> None:
        """Keep exactly the elements ``indices`` (a fixed choice, e.g. from a
        subnet file): they become the most important, the others the least."""
        indices = sorted(set(int(i) for i in indices))
        if indices and (indices[0] < 0 or indices[-1] >= self.num_elements):
            raise IndexError(f'{type(self).__name__}: kept indices must be in '
                             f'[0, {self.num_elements - 1}], got {indices[0]}..{indices[-1]}')
        # distinct values (no ties, so no "all equal, keep everything" row):
        # every kept element ranks above every other one
        n = self.num_elements
        self.importance.copy_(torch.arange(n, dtype=torch.float32) / (2 * n))
        self.importance[indices] += 1.0
        self.keep_ratio.fill_(len(indices) / n)

    # ----------------------------------------------------------- reporting
    @property
    def num_kept(self) -> int:
        """Number of elements the hard mask keeps now."""
        return int(self.compute_hard_mask().sum().item())

    def kept_indices(self):
        """Indices of the kept elements, sorted."""
        return torch.nonzero(self.compute_hard_mask() > 0).flatten().tolist()


@MODELS.register_module()
class DMSMutableChannel(DMSMutableMixin, BaseMutableChannel):
    """The width of a channel unit, learned by DMS.

    Args:
        num_channels (int): Channels of the unit.
        group_size (int): Consecutive channels that share one element (one
            mask value and one importance). Must divide ``num_channels``.
            Defaults to 1.
        min_keep (float): Lowest keep ratio. At least one element is always
            kept. Defaults to 0.0.
        max_keep (float): Highest keep ratio (and the initial one).
            Defaults to 1.0.
        lambda_scale (float): Sharpness of the top-k (temperature
            ``lambda_scale * N``). Defaults to 1.0.
        ema_decay (float): Decay of the importance EMA. Defaults to 0.99.
    """

    def __init__(self, num_channels: int, group_size: int = 1, min_keep: float = 0.0,
                 max_keep: float = 1.0, lambda_scale: float = 1.0, ema_decay: float = 0.99,
                 **kwargs):
        super().__init__(num_channels, **kwargs)
        if group_size < 1 or num_channels % group_size != 0:
            raise ValueError(f'DMSMutableChannel: group_size={group_size} must be >= 1 and '
                             f'divide num_channels={num_channels}')
        self.group_size = int(group_size)
        self._init_dms(num_channels // group_size, lambda_scale, min_keep, max_keep, ema_decay)

    def lower_keep_bound(self) -> float:
        # at least one element, by a margin: at keep = 1/N the top element's logit is
        # lambda_scale * 0.5 (sigmoid > 0.62 for lambda_scale >= 1) and the second's is
        # -lambda_scale * 0.5. (A floor of 0.5/N put the top element exactly on the
        # threshold, where float rounding decided whether the unit kept anything.)
        return max(self.min_keep, 1.0 / self.num_elements)

    def expand(self, element_mask: torch.Tensor) -> torch.Tensor:
        """Element mask -> channel mask (each element covers ``group_size``)."""
        if self.group_size == 1:
            return element_mask
        return element_mask.repeat_interleave(self.group_size, dim=-1)

    @property
    def channel_mask(self) -> torch.Tensor:
        """This forward's mask over the channels."""
        return self.expand(self.mask)

    # mmrazor's BaseMutableChannel API: the hard selection, used to slice
    # weights when exporting and by MutableChannelContainer.
    @property
    def current_mask(self) -> torch.Tensor:
        return self.expand(self.compute_hard_mask()).bool()

    @property
    def current_choice(self) -> float:
        """The keep ratio."""
        return float(self.keep_ratio.detach())

    @current_choice.setter
    def current_choice(self, choice) -> None:
        if isinstance(choice, int) and not isinstance(choice, bool):
            choice = choice / self.num_channels
        with torch.no_grad():
            self.keep_ratio.fill_(float(choice))

    def num_choices(self) -> int:
        return self.num_elements

    def dump_chosen(self):
        from mmrazor.utils.typing import DumpChosen

        return DumpChosen(chosen=self.current_choice,
                          meta=dict(max_channels=self.num_channels))

    def expand_mutable_channel(self, expand_ratio: int):
        """The mutable of a layer that reads each channel ``expand_ratio``
        times in a row (a flatten of a feature map, Swin's patch merging):
        its hard mask repeats each channel's. The DMS ops find this mutable
        behind it (``source_mutables``) and repeat the soft mask alike."""
        if int(expand_ratio) != expand_ratio or expand_ratio < 1:
            raise ValueError(f'DMSMutableChannel: expand_ratio={expand_ratio} must be a whole '
                             'number >= 1')
        return RepeatedChannels(self, int(expand_ratio))

    def extra_repr(self) -> str:
        return (f'num_channels={self.num_channels}, group_size={self.group_size}, '
                f'keep_ratio={self.current_choice:.3f}, kept={self.num_kept * self.group_size}')

    def __repr__(self):
        return nn.Module.__repr__(self)


class _Repeated:
    """The keep ratio (``part='choice'``) or the hard mask, each channel
    repeated (``part='mask'``), of a mutable. An object, not a closure, so
    that a deep copy of the model points to the copied mutable."""

    def __init__(self, mutable: DMSMutableChannel, repeat: int, part: str):
        self.mutable, self.repeat, self.part = mutable, repeat, part

    def __call__(self):
        if self.part == 'choice':
            return self.mutable.current_choice
        return self.mutable.current_mask.repeat_interleave(self.repeat)


class RepeatedChannels(DerivedMutable):
    """The channels of a :class:`DMSMutableChannel`, each read ``repeat``
    times in a row (see :meth:`DMSMutableChannel.expand_mutable_channel`)."""

    def __init__(self, mutable: DMSMutableChannel, repeat: int):
        super().__init__(_Repeated(mutable, repeat, 'choice'), _Repeated(mutable, repeat, 'mask'),
                         [mutable])

    def _trace_source_mutables(self):
        return set(self.source_mutables)


@MODELS.register_module()
class DMSMutableBlocks(DMSMutableMixin, BaseMutable):
    """The depth of a stage, learned by DMS: one element per removable block.

    Args:
        num_blocks (int): Removable blocks in the stage.
        min_keep (float): Lowest keep ratio; 0 lets a stage lose every
            removable block. Defaults to 0.0.
        max_keep (float): Highest keep ratio. Defaults to 1.0.
        lambda_scale (float): Sharpness; DMS uses 4 for depth. Defaults to 4.0.
        ema_decay (float): Decay of the importance EMA. Defaults to 0.99.
    """

    def __init__(self, num_blocks: int, min_keep: float = 0.0, max_keep: float = 1.0,
                 lambda_scale: float = 4.0, ema_decay: float = 0.99, **kwargs):
        super().__init__(**kwargs)
        self._init_dms(num_blocks, lambda_scale, min_keep, max_keep, ema_decay)

    @property
    def num_blocks(self) -> int:
        return self.num_elements

    @property
    def current_choice(self) -> float:
        return float(self.keep_ratio.detach())

    @current_choice.setter
    def current_choice(self, choice) -> None:
        with torch.no_grad():
            self.keep_ratio.fill_(float(choice))

    def fix_chosen(self, chosen=None) -> None:
        if chosen is not None:
            self.current_choice = chosen
        self.freeze()
        self.is_fixed = True

    def dump_chosen(self):
        from mmrazor.utils.typing import DumpChosen

        return DumpChosen(chosen=self.kept_indices(), meta=dict(num_blocks=self.num_blocks))

    def num_choices(self) -> int:
        return self.num_blocks + 1

    def extra_repr(self) -> str:
        return (f'num_blocks={self.num_blocks}, keep_ratio={self.current_choice:.3f}, '
                f'kept={self.kept_indices()}')
