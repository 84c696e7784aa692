"""DMSSchedulerHook: the target schedule, the phases, and the per-step
bookkeeping of the structure parameters."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmrazor.registry import HOOKS

from dms_mm.algorithms.dms_algorithm import DMSAlgorithm, schedule_value
from dms_mm.engine.optimizers import restore_fixed_lrs

SCHEDULES = ('root', 'linear', 'cos', 'none')


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

    Args:
        schedule (str): ``'root'`` (``final ** t``, the paper's), ``'linear'``,
            ``'cos'`` or ``'none'`` (the final target at once).
            Defaults to ``'root'``.
        decay_ratio (float): Fraction of the run for the decay. Defaults to 0.8.
        refine_ratio (float): Fraction for the refine phase. Defaults to 0.2.
        pretrain_ratio (float): Fraction before the decay. Defaults to 0.0.
        by_epoch (bool): Follow epochs (the target steps once an epoch)
            instead of iterations. Defaults to False.
    """

    priority = 'NORMAL'

    def __init__(self, schedule: str = 'root', decay_ratio: float = 0.8,
                 refine_ratio: float = 0.2, pretrain_ratio: float = 0.0,
                 by_epoch: bool = False) -> None:
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
        self._phase: Optional[str] = None
        self._loss_scale = 1.0

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
        if phase in ('refine', 'fixed'):
            mutator.freeze_depth()
        if phase == 'fixed':
            mutator.freeze_all()
        print_log(f'DMSSchedulerHook: phase {phase!r}', logger='current')
        self._phase = phase

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        mutator = self._algorithm(runner).mutator
        mutator.update_importance(self._loss_scale)
        mutator.clamp_()

