"""DMSSchedulerHook: the target schedule, the phases, and the per-step
bookkeeping of the structure parameters."""
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.dist import all_reduce, broadcast, get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import find_latest_checkpoint
from mmrazor.registry import HOOKS
from torch import nn

from dms_mm.algorithms.dms_algorithm import DMSAlgorithm, schedule_value
from dms_mm.engine.optimizers import restore_fixed_lrs
from dms_mm.utils.config_keys import unknown_key_message
from dms_mm.utils.state_dicts import compare_state_dicts

SCHEDULES = ('root', 'linear', 'cos', 'none')
#: message-hub key (and log/scalars name without ``train/``) of the count of
#: structure updates skipped for a NaN/Inf gradient
SKIPPED_STEPS_KEY = 'train/skipped_structure_steps'


@HOOKS.register_module()
class DMSSchedulerHook(Hook):
    """Drives a DMS search from the runner's progress.

    The run (``max_iters``, or ``max_epochs`` with ``by_epoch=True``) is cut
    into phases: ``pretrain_ratio`` of it with the full target (1.0), then
    ``decay_ratio`` in which the target falls from 1.0 to the final target by
    ``schedule``, then ``refine_ratio`` in which depth is frozen at its hard
    mask and width goes on, then (if anything is left) a fixed structure.

    Before every iteration it hands the phase and target to the algorithm and
    holds the learning rate of the structure group (``fixed_lr``) constant;
    after every iteration it folds the Taylor scores into the importance
    (removing the AMP loss scale, averaging over ranks) and clamps the keep
    ratios.

    Right before each optimizer step (an optimizer step pre-hook) it drops
    the gradients of frozen keep ratios, and when a structure gradient holds
    NaN or Inf it drops all structure gradients of that step: the weights
    still step, the structure does not. Such steps are counted, logged as a
    warning and reported as ``skipped_structure_steps`` in the log and in
    ``scalars.json``; the count survives a resume.

    In distributed runs it checks every ``sync_check_interval`` iterations
    that all ranks hold the same keep ratios, importance and hard masks, and
    stops every rank with an error naming the first mutable that differs
    when they do not. When a run is resumed, it refuses a checkpoint whose
    state dict does not fit the model (another structure), naming the file
    and the keys.

    Args:
        schedule (str): ``'root'`` (``final ** t``, the paper's), ``'linear'``,
            ``'cos'`` or ``'none'`` (the final target at once).
            Defaults to ``'root'``.
        decay_ratio (float): Fraction of the run for the decay. Defaults to 0.8.
        refine_ratio (float): Fraction for the refine phase. Defaults to 0.2.
        pretrain_ratio (float): Fraction before the decay. Defaults to 0.0.
        by_epoch (bool): Follow epochs (the target steps once an epoch)
            instead of iterations. Defaults to False.
        sync_check_interval (int): In distributed runs, compare the structure
            of every rank with rank 0's every this many iterations (one
            broadcast and one all-reduce of a small tensor); 0 turns the check
            off. Defaults to 100.
    """

    priority = 'NORMAL'

    def __init__(self, schedule: str = 'root', decay_ratio: float = 0.8,
                 refine_ratio: float = 0.2, pretrain_ratio: float = 0.0,
                 by_epoch: bool = False, sync_check_interval: int = 100, **kwargs) -> None:
        if kwargs:
            raise TypeError(unknown_key_message(
                'DMSSchedulerHook', next(iter(kwargs)),
                ('schedule', 'decay_ratio', 'refine_ratio', 'pretrain_ratio', 'by_epoch',
                 'sync_check_interval')))
        if schedule not in SCHEDULES:
            raise ValueError(f'DMSSchedulerHook: schedule must be one of {SCHEDULES}, '
                             f'got {schedule!r}')
        for key, value in dict(decay_ratio=decay_ratio, refine_ratio=refine_ratio,
                               pretrain_ratio=pretrain_ratio).items():
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'DMSSchedulerHook: {key} must be in [0, 1], got {value}')
        if decay_ratio <= 0.0:
            raise ValueError('DMSSchedulerHook: decay_ratio must be > 0')
        if pretrain_ratio + decay_ratio + refine_ratio > 1.0 + 1e-9:
            raise ValueError(
                'DMSSchedulerHook: pretrain_ratio + decay_ratio + refine_ratio must be <= 1, '
                f'got {pretrain_ratio} + {decay_ratio} + {refine_ratio}')
        self.schedule = schedule
        self.decay_ratio = decay_ratio
        self.refine_ratio = refine_ratio
        self.pretrain_ratio = pretrain_ratio
        self.by_epoch = by_epoch
        if int(sync_check_interval) < 0:
            raise ValueError('DMSSchedulerHook: sync_check_interval must be >= 0, '
                             f'got {sync_check_interval}')
        self.sync_check_interval = int(sync_check_interval)
        self._phase: Optional[str] = None
        self._loss_scale = 1.0
        self.skipped_steps = 0
        self._runner = None
        self._step_hook = None
        self._mutables: List[Tuple[str, nn.Module]] = []

    @staticmethod
    def _algorithm(runner) -> DMSAlgorithm:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not isinstance(model, DMSAlgorithm):
            raise TypeError(f'DMSSchedulerHook needs a DMSAlgorithm model, got '
                            f'{type(model).__name__}')
        return model

    def phase_at(self, current: int, total: int):
        """Phase and target ratio at ``current`` of ``total`` steps."""
        final = self._final
        pretrain = int(round(total * self.pretrain_ratio))
        decay = max(int(round(total * self.decay_ratio)), 1)
        refine = int(round(total * self.refine_ratio))
        if current < pretrain:
            return 'pretrain', 1.0
        if current < pretrain + decay:
            t = (current - pretrain) / max(decay - 1, 1)
            return 'search', schedule_value(self.schedule, final, t)
        if current < pretrain + decay + refine:
            return 'refine', final
        return 'fixed', final

    def before_train(self, runner) -> None:
        algorithm = self._algorithm(runner)
        self._final = algorithm.final_target_ratio
        fixed = [g for g in runner.optim_wrapper.optimizer.param_groups if 'fixed_lr' in g]
        keep_ids = {id(p) for m in algorithm.mutator.dms_mutables() for p in m.parameters()}
        grouped = {id(p) for g in fixed for p in g['params']}
        if not keep_ids <= grouped:
            print_log(
                'DMSSchedulerHook: the keep ratios are not in a fixed-LR group, so the '
                "weights' schedulers and weight decay act on them; use "
                "optim_wrapper.constructor='DMSOptimWrapperConstructor' with "
                "paramwise_cfg.custom_keys={'mutator': dict(lr=...)}", logger='current',
                level=30)
        total = runner.max_epochs if self.by_epoch else runner.max_iters
        unit = 'epochs' if self.by_epoch else 'iterations'
        print_log(
            f'DMSSchedulerHook: {algorithm.target_kind} target ratio '
            f'{self._final:.4f}, schedule {self.schedule!r} over {total} {unit}: '
            f'pretrain {self.pretrain_ratio}, decay {self.decay_ratio}, '
            f'refine {self.refine_ratio}', logger='current')
        print_log(algorithm.mutator.summary(), logger='current')

        mutator = algorithm.mutator
        self._mutables = mutator.named_dms_mutables()
        self._runner = runner
        hub = runner.message_hub
        if SKIPPED_STEPS_KEY in hub.log_scalars:  # resumed: go on counting
            self.skipped_steps = int(hub.get_scalar(SKIPPED_STEPS_KEY).current())
        if self._step_hook is not None:
            self._step_hook.remove()
        self._step_hook = runner.optim_wrapper.optimizer.register_step_pre_hook(
            self._before_optimizer_step)

    def after_train(self, runner) -> None:
        if self._step_hook is not None:
            self._step_hook.remove()
            self._step_hook = None

    # ------------------------------------------------------ optimizer step
    def _before_optimizer_step(self, optimizer, args, kwargs) -> None:
        """Optimizer step pre-hook: drop the gradients of frozen keep ratios,
        and of every keep ratio when one of them is not finite (one read of a
        value from the device per step)."""
        grads = []
        for name, mutable in self._mutables:
            grad = mutable.keep_ratio.grad
            if grad is None:
                continue
            if mutable.frozen:
                mutable.keep_ratio.grad = None
            else:
                grads.append((name, grad))
        if not grads:
            return
        finite = torch.stack([torch.isfinite(grad).all() for _, grad in grads])
        if bool(finite.all()):
            return
        bad = [name for (name, _), ok in zip(grads, finite.tolist()) if not ok]
        for _, mutable in self._mutables:
            mutable.keep_ratio.grad = None
        self.skipped_steps += 1
        iteration = self._runner.iter + 1 if self._runner is not None else '?'
        print_log(
            f'DMSSchedulerHook: iteration {iteration}: NaN/Inf in the structure gradient '
            f'of {", ".join(bad[:3])}{" and others" if len(bad) > 3 else ""}; the structure '
            f'update of this step is skipped, the weights still step '
            f'({self.skipped_steps} structure step(s) skipped so far)',
            logger='current', level=30)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        algorithm = self._algorithm(runner)
        if self.by_epoch:
            current, total = runner.epoch, runner.max_epochs
        else:
            current, total = runner.iter, runner.max_iters
        phase, target = self.phase_at(current, total)
        if phase != self._phase:
            self._enter(algorithm, phase)
        algorithm.set_search_state(phase, target)

        scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
        self._loss_scale = float(scaler.get_scale()) if scaler is not None and getattr(
            scaler, 'is_enabled', lambda: False)() else 1.0
        restore_fixed_lrs(runner.optim_wrapper.optimizer)

    def _enter(self, algorithm: DMSAlgorithm, phase: str) -> None:
        mutator = algorithm.mutator
        # frozen keep ratios stay in the autograd graph, with a zero gradient that the
        # step pre-hook drops: DDP was built expecting a gradient for each of them
        if phase == 'fixed':
            mutator.freeze_all(keep_in_graph=True)
        elif phase == 'refine':
            mutator.freeze_depth(keep_in_graph=True)
        print_log(f'DMSSchedulerHook: phase {phase!r}', logger='current')
        self._phase = phase

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        mutator = self._algorithm(runner).mutator
        mutator.update_importance(self._loss_scale)
        mutator.clamp_()
        runner.message_hub.update_scalar(SKIPPED_STEPS_KEY, self.skipped_steps)
        if (self.sync_check_interval and get_world_size() > 1
                and ((runner.iter + 1) % self.sync_check_interval == 0
                     or runner.iter + 1 == runner.max_iters)):
            self.check_ranks_agree(mutator, runner.iter + 1)

    # ------------------------------------------------------ distributed
    @staticmethod
    def structure_state(mutator) -> Dict[str, torch.Tensor]:
        """Keep ratio, importance and hard mask of every mutable, flattened
        (the state every rank must share)."""
        return {
            name: torch.cat([m.keep_ratio.detach().float().flatten(),
                             m.importance.detach().float().flatten(),
                             m.compute_hard_mask().float().flatten()])
            for name, m in mutator.named_dms_mutables()
        }

    def check_ranks_agree(self, mutator, iteration: int) -> None:
        """Compare this rank's structure with rank 0's; every rank raises
        together when any rank differs.

        Raises:
            RuntimeError: Naming the first mutable that differs on this rank.
        """
        state = self.structure_state(mutator)
        local = torch.cat(list(state.values()))
        reference = local.clone()
        broadcast(reference, src=0)
        differs = torch.tensor([0.0 if torch.equal(reference, local) else 1.0],
                               device=local.device)
        all_reduce(differs, op='sum')
        if float(differs) == 0:
            return
        first, offset = 'none on this rank (rank 0 is the reference)', 0
        for name, values in state.items():
            ref = reference[offset:offset + values.numel()]
            offset += values.numel()
            if not torch.equal(ref, values):
                first = (f'{name} (max difference '
                         f'{float((ref - values).abs().max()):.3g})')
                break
        raise RuntimeError(
            f'DMSSchedulerHook: at iteration {iteration}, {int(float(differs))} rank(s) hold '
            f'another structure (keep ratios, importance or hard masks) than rank 0; first '
            f'difference on this rank: {first}. Every rank must step the keep ratios with '
            'the same (all-reduced) gradients and update importance from all-reduced scores')

    # ------------------------------------------------------------- resume
    def after_load_checkpoint(self, runner, checkpoint) -> None:
        """When resuming, refuse a checkpoint of another structure."""
        if not getattr(runner, '_resume', False):
            return
        source = getattr(runner, '_load_from', None) or find_latest_checkpoint(
            runner.work_dir) or 'the checkpoint'
        state = checkpoint.get('state_dict', checkpoint)
        state = {(k[len('module.'):] if k.startswith('module.') else k): v
                 for k, v in state.items()}
        missing, unexpected, shapes = compare_state_dicts(self._algorithm(runner).state_dict(),
                                                          state)
        if not (missing or unexpected or shapes):
            return
        shapes = [f'{k}: {in_file} in the checkpoint, {here} here'
                  for k, in_file, here in shapes]
        parts = []
        if shapes:
            parts.append(f'{len(shapes)} shape(s) differ ({"; ".join(shapes[:3])})')
        if missing:
            parts.append(f'{len(missing)} key(s) of this model are not in it '
                         f'({", ".join(missing[:3])})')
        if unexpected:
            parts.append(f'{len(unexpected)} key(s) in it are not in this model '
                         f'({", ".join(unexpected[:3])})')
        raise ValueError(
            f'DMSSchedulerHook: cannot resume from {source}: it was saved from another '
            f'structure than this model: {"; ".join(parts)}. Resume with the config that '
            'wrote it, or start a new search in another work dir (nothing was changed)')

