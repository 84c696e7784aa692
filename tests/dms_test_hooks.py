"""Hooks that the end-to-end tests add to a search run through ``tools/train.py``
(with ``custom_imports=['dms_test_hooks']`` and this folder on PYTHONPATH).

They only observe or disturb a run from outside, as a test needs:
``RankStateDumpHook`` writes what each rank holds, ``KillAtIterationHook``
stops the process as a preempted job would stop, and
``NonFiniteStructureGradHook`` puts NaN/Inf into the gradient of one keep
ratio at chosen iterations.
"""
import json
import os
import os.path as osp
import signal

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from dms_mm.structures import build_subnet


def _algorithm(runner):
    return runner.model.module if is_model_wrapper(runner.model) else runner.model


@HOOKS.register_module()
class RankStateDumpHook(Hook):
    """Every ``interval`` iterations, each rank saves its keep ratios,
    importance and hard masks (and the running mean of the first norm layer)
    to ``OUT_DIR/rank{r}_iter{i}.pth``; after training (before the export
    hook) its subnet, model wrapper and norm layer types to
    ``rank{r}_subnet.json``."""

    priority = 'BELOW_NORMAL'  # after DMSSchedulerHook, before DMSExportHook

    def __init__(self, out_dir: str, interval: int = 1) -> None:
        self.out_dir = out_dir
        self.interval = interval

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if (runner.iter + 1) % self.interval and runner.iter + 1 != runner.max_iters:
            return
        state = {
            name: dict(keep_ratio=m.keep_ratio.detach().clone(),
                       importance=m.importance.detach().clone(),
                       hard_mask=m.compute_hard_mask())
            for name, m in _algorithm(runner).mutator.named_dms_mutables()
        }
        norms = [m for m in _algorithm(runner).architecture.modules()
                 if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        state['first_norm_running_mean'] = norms[0].running_mean.detach().clone()
        os.makedirs(self.out_dir, exist_ok=True)
        torch.save(state, osp.join(self.out_dir, f'rank{get_rank()}_iter{runner.iter + 1}.pth'))

    def after_train(self, runner) -> None:
        algorithm = _algorithm(runner)
        subnet = build_subnet(algorithm.mutator)
        norm_types = sorted({type(m).__name__ for m in algorithm.architecture.modules()
                             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)})
        with open(osp.join(self.out_dir, f'rank{get_rank()}_subnet.json'), 'w') as f:
            json.dump(dict(units=subnet['units'], stages=subnet['stages'],
                           model_wrapper=type(runner.model).__name__, norm_types=norm_types), f)


@HOOKS.register_module()
class KillAtIterationHook(Hook):
    """SIGKILL the process once iteration ``iteration`` (1-based) is done, as
    when a cluster job is preempted in the middle of an epoch."""

    priority = 'LOWEST'

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.iteration:
            os.kill(os.getpid(), signal.SIGKILL)


@HOOKS.register_module()
class NonFiniteStructureGradHook(Hook):
    """At the given iterations (1-based), the gradient of the keep ratio of
    the first searched channel unit becomes ``value`` (NaN by default)."""

    def __init__(self, iterations, value: float = float('nan')) -> None:
        self.iterations = set(iterations)
        self.value = value
        self._handle = None

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter + 1 not in self.iterations:
            return
        mutator = _algorithm(runner).mutator
        keep = mutator.searchable_units[0].mutable_channel.keep_ratio
        self._handle = keep.register_hook(lambda grad: torch.full_like(grad, self.value))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
