"""mmrazor's own pruner as a peer baseline of DMS, in our stack.

Prunes a trained supernet (the plain architecture of a dms_mm search config, as
``tools/train.py`` saves it) down to a FLOPs target with mmrazor 1.0.0, and
writes the result as dms_mm's export does, so that the retrain config of the
search (``type='DMSSubModel'``) finetunes it unchanged::

    python benchmarks/mmrazor_prune.py SEARCH_CONFIG SUPERNET_CKPT --target 0.5 \\
        --out-dir DIR [--method groupfisher|l1]

Methods:

* ``groupfisher``: mmrazor's GroupFisher (``GroupFisherAlgorithm`` with its
  ``GroupFisherChannelMutator`` and ``GroupFisherChannelUnit``, the recipe of
  mmrazor's ``configs/pruning/base/group_fisher``: FxTracer channel analysis,
  Fisher information of the training batches normalised by FLOPs, the
  optimizer of the config at ``lr_ratio`` = 0.1 of its learning rate, one
  pruning step every ``interval`` = 10 iterations). The training steps are
  ``GroupFisherAlgorithm.train_step`` unchanged. The one departure: a pruning
  step removes as many channels (each by ``GroupFisherChannelMutator.try_prune``,
  the least important by the accumulated Fisher information) as are needed to
  reach the target in ``max_iters`` iterations, instead of one channel, which
  would take thousands of iterations here. Depth is not pruned (all blocks kept).
* ``l1``: L1-norm pruning through ``ItePruneAlgorithm`` with
  ``L1MutableChannelUnit`` (ratio mode): one keep ratio for every prunable
  unit, found by bisection so that the FLOPs land on the target, reached
  linearly over ``max_iters // interval`` pruning steps while training.

Output in ``--out-dir``: ``subnet.json`` and ``pruned.pth`` in the format of
:func:`dms_mm.structures.export.export_subnet` (mmrazor's kept channels mapped
onto dms_mm's channel units by the layers they belong to; all blocks kept; the
static model made by :func:`dms_mm.structures.to_static` from the weights
mmrazor trained while pruning), and ``mmrazor_prune.log``. Before writing, it
checks that the static model's outputs equal those of mmrazor's pruned model
in eval mode and that mmengine's FLOPs count of it is within 2 % of the target.

When mmrazor cannot prune the model, ``failed.json`` is written instead,
``{"method", "stage", "error", "traceback"}``, and :class:`MMRazorPruneError`
is raised (the command exits with status 1, naming the error).

Known gap of mmrazor 1.0.0, fixed by
:mod:`dms_mm.compat.mmrazor_groupfisher_adaptive_padding` (applied on import of
dms_mm): ``GroupFisherChannelUnit`` maps only ``nn.Conv2d`` to a GroupFisher
op, so without it every unit through mmcv's ``Conv2dAdaptivePadding`` (all
convolutions of mmpretrain's EfficientNet but the squeeze-excitation ones)
would not be prunable.
"""
import argparse
import contextlib
import copy
import json
import logging
import os
import os.path as osp
import sys
import time
import traceback
from collections import Counter
from typing import Callable, Dict, Iterator, List, Optional, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger, print_log
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmengine.runner.utils import set_random_seed
from torch import nn

import dms_mm  # noqa: F401  (the compat fixes first: mmrazor.models imports on torch 2.x)
from benchmarks.subnets import build_architecture
from dms_mm.mutators import DMSMutator
from dms_mm.structures import build_subnet, to_static
from dms_mm.structures.export import PRUNED_FILE, SUBNET_FILE, count_static, write_export
from dms_mm.structures.sub_model import load_state_strict
from dms_mm.structures.subnet import apply_subnet, to_plain

METHODS = ('groupfisher', 'l1')
FAILED_FILE = 'failed.json'
LOG_FILE = 'mmrazor_prune.log'
#: the checks before anything is written
MAX_OUTPUT_DIFFERENCE = 1e-4
FLOPS_TOLERANCE = 0.02


class MMRazorPruneError(RuntimeError):
    """mmrazor could not prune the model; ``record`` is what ``failed.json`` holds."""

    def __init__(self, record: Dict) -> None:
        super().__init__(f'mmrazor {record["method"]} failed at stage {record["stage"]!r}: '
                         f'{record["error"]}')
        self.record = record


class _Failure(RuntimeError):
    """A failure diagnosed here (not an upstream exception)."""


# ---------------------------------------------------------------------------- helpers
def _first_and_last_frames(error: BaseException) -> Tuple[str, str]:
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return '', ''

    def where(frame):
        return f'{frame.filename}:{frame.lineno} in {frame.name}: {frame.line}'

    return where(frames[0]), where(frames[-1])


def _failure_record(method: str, stage: str, error: BaseException) -> Dict:
    if isinstance(error, _Failure):
        return dict(method=method, stage=stage, error=str(error))
    first, last = _first_and_last_frames(error)
    record = dict(method=method, stage=stage, error=f'{type(error).__name__}: {error}'.strip())
    record.update(traceback_first=first, traceback_last=last,
                  traceback=traceback.format_exception(type(error), error, error.__traceback__))
    return record


def _write_json(path: str, data: Dict) -> None:
    with open(path + '.tmp', 'w', encoding='utf-8') as f:
        json.dump(data, f, indent=2)
    os.replace(path + '.tmp', path)


@contextlib.contextmanager
def _stage(name: str, method: str, out_dir: str, logger: MMLogger):
    """Failures inside become ``failed.json`` and :class:`MMRazorPruneError`."""
    try:
        yield
    except MMRazorPruneError:
        raise
    except Exception as error:  # mmrazor failing is a result to report
        record = _failure_record(method, name, error)
        _write_json(osp.join(out_dir, FAILED_FILE), record)
        print_log(f'mmrazor_prune: {method} failed at stage {name!r}: {record["error"]}',
                  logger=logger, level=logging.WARNING)
        raise MMRazorPruneError(record) from error


@contextlib.contextmanager
def _run_log(out_dir: str) -> Iterator[MMLogger]:
    """A logger (console and ``out_dir/mmrazor_prune.log``) and a message hub of
    their own for one run; the log file is closed on exit."""
    stamp = f'{time.time():.6f}'
    logger = MMLogger.get_instance(f'mmrazor_prune-{stamp}', log_file=osp.join(out_dir, LOG_FILE))
    MessageHub.get_instance(f'mmrazor_prune-{stamp}')
    try:
        yield logger
    finally:
        for handler in [h for h in logger.handlers if isinstance(h, logging.FileHandler)]:
            handler.close()
            logger.removeHandler(handler)


def _batches(cfg: Config, seed: int) -> Iterator[Dict]:
    """The config's train batches, epoch after epoch."""
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        loader = Runner.build_dataloader(copy.deepcopy(cfg.train_dataloader), seed=seed)
    epoch = 0
    while True:
        if hasattr(loader.sampler, 'set_epoch'):
            loader.sampler.set_epoch(epoch)
        yield from loader
        epoch += 1


def _optim_wrapper(cfg: Config, model: nn.Module, lr_ratio: float):
    optimizer = dict(copy.deepcopy(cfg.optim_wrapper.optimizer))
    optimizer['lr'] = optimizer['lr'] * lr_ratio
    return build_optim_wrapper(model, dict(type='OptimWrapper', optimizer=optimizer)), optimizer


def _flops(model: nn.Module, shape) -> float:
    """mmengine's FLOPs count of a model; of mmrazor's dynamic model, the
    count of its pruned computation (its ops slice their weights)."""
    return count_static(model, shape)[0]


def _active_channels(units) -> int:
    return sum(int(u.mutable_channel.current_mask.sum()) for u in units)


def _unprunable_reasons(mutator) -> Dict[str, int]:
    """Why mmrazor marks units not prunable: the layer types without a dynamic op."""
    from mmrazor.models.architectures.dynamic_ops import DynamicChannelMixin

    reasons = Counter()
    for unit in mutator.units:
        if unit.is_mutable:
            continue
        static = {type(c.module).__name__ for c in list(unit.input_related) +
                  list(unit.output_related) if isinstance(c.module, nn.Module) and
                  not isinstance(c.module, DynamicChannelMixin) and
                  any(True for _ in c.module.parameters())}
        names = {c.name for c in list(unit.input_related) + list(unit.output_related)}
        if static:
            reasons['static layers ' + ', '.join(sorted(static))] += 1
        elif names & {'input_placeholder', 'output_placeholder'}:
            reasons['model input/output'] += 1
        else:
            reasons['other (e.g. a Linear consumer; mutate_linear=False)'] += 1
    return dict(reasons)


@torch.no_grad()
def _smallest_ratio(mutator, measure: Callable[[], float], supernet_flops: float) -> float:
    """FLOPs ratio with every prunable unit at one channel (masks restored)."""
    saved = [(u, u.mutable_channel.current_choice.clone()) for u in mutator.mutable_units]
    try:
        for unit, choice in saved:
            one = torch.zeros_like(choice, dtype=torch.bool)
            one[0] = True
            unit.mutable_channel.current_choice = one
        return measure() / supernet_flops
    finally:
        for unit, choice in saved:
            unit.mutable_channel.current_choice = choice


@contextlib.contextmanager
def _mutable_units_computed_once(mutator):
    """Inside: ``mutator.mutable_units`` is computed once.

    mmrazor's ``ChannelMutator.mutable_units`` evaluates ``is_mutable`` of every
    unit, through all their channels, at each access; ``try_prune`` and each
    training step read it, about 30 ms a time here. Whether a unit is prunable
    is fixed once the mutator is prepared, so the list does not change.
    """
    cls = type(mutator)
    inherited = getattr(cls, 'mutable_units')
    own = cls.__dict__.get('mutable_units')
    units = list(mutator.mutable_units)
    cls.mutable_units = property(lambda self: units if self is mutator else inherited.fget(self))
    try:
        yield units
    finally:
        if own is None:
            del cls.mutable_units
        else:
            cls.mutable_units = own


# ------------------------------------------------------------------------- GroupFisher
class _PruneEvents:
    """Replaces ``GroupFisherChannelMutator.try_prune`` on one mutator: each call
    (a pruning step of ``GroupFisherAlgorithm``) calls mmrazor's ``try_prune``
    until the FLOPs have come down by their share of what is left to the target
    over the remaining steps.

    mmengine's count (one jit trace, about a second) is taken at most twice a
    step, and until the target is met at the last step; the channels to prune
    are estimated from the FLOPs the latest channels removed. A round that goes
    more than half the tolerance below the target is taken back (the masks
    restored) and redone with half the channels. When a single channel jumps
    that far (an expensive channel of an early, high-resolution layer) while
    the FLOPs before it are within half the tolerance above the target, that
    channel is taken back and the pruning ends there (``settled``).
    """

    def __init__(self, mutator, measure: Callable[[], float], supernet_flops: float,
                 target_flops: float, events: int, logger) -> None:
        self.mutator, self.measure, self.logger = mutator, measure, logger
        self.original = mutator.try_prune
        self.target, self.events = target_flops, events
        self.flops = supernet_flops
        self.done, self.pruned = 0, 0
        self.settled = False
        # FLOPs one channel removes: a first guess, then what the latest ones removed
        self.per_channel = supernet_flops / max(_active_channels(mutator.mutable_units), 1)
        self.history: List[Dict] = []

    @property
    def reached(self) -> bool:
        return self.flops <= self.target or self.settled

    def _prune(self, count: int) -> int:
        """``count`` calls of mmrazor's try_prune; the channels they pruned."""
        units = self.mutator.mutable_units
        before = _active_channels(units)
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel('WARNING')  # mmrazor logs every channel it prunes
        try:
            for _ in range(count):
                self.original()
        finally:
            logger.setLevel(level)
        pruned = before - _active_channels(units)
        if pruned == 0:
            raise _Failure(
                'GroupFisherChannelMutator.try_prune pruned nothing (every prunable unit is '
                'down to one channel, or an importance is nan) at FLOPs '
                f'{self.flops:.0f} > target {self.target:.0f}')
        return pruned

    def __call__(self) -> None:
        self.done += 1
        if self.reached:
            return
        last = self.done >= self.events
        goal = self.target if last else \
            self.flops - (self.flops - self.target) / (self.events - self.done + 1)
        floor = self.target * (1 - FLOPS_TOLERANCE / 2)
        units = self.mutator.mutable_units
        # at the last step, aim inside the tolerance, below the target
        aim = self.target * (1 - FLOPS_TOLERANCE / 4) if last else goal
        pruned, rounds, cap = 0, 0, None
        while self.flops > goal and (last or rounds < 2):
            count = max(1, int((self.flops - aim) / self.per_channel))
            if cap is not None:
                count = min(count, cap)
            masks = [(u, u.mutable_channel.current_choice.clone()) for u in units]
            count = self._prune(count)
            flops = self.measure()
            if flops < floor and (count > 1 or
                                  self.flops <= self.target * (1 + FLOPS_TOLERANCE / 2)):
                # too far below the target: take the channels back, prune fewer, or
                # none where one channel jumps over a target we are already close to
                for unit, mask in masks:
                    unit.mutable_channel.current_choice = mask
                if count == 1:
                    self.settled = True
                    print_log(f'GroupFisher: the next channel would take the FLOPs from '
                              f'{self.flops / 1e6:.3f} M to {flops / 1e6:.3f} M, more than '
                              f'{FLOPS_TOLERANCE / 2:.0%} below the target '
                              f'{self.target / 1e6:.3f} M; stopping at {self.flops / 1e6:.3f} M',
                              logger=self.logger)
                    break
                self.per_channel = max((self.flops - flops) / count, 1.0)
                cap = count // 2
                continue
            self.per_channel = max((self.flops - flops) / count, 1.0)
            self.flops = flops
            self.pruned += count
            pruned += count
            rounds += 1
        self.history.append(dict(step=self.done, channels=pruned, flops=self.flops))
        print_log(f'GroupFisher pruning step {self.done}/{self.events}: {pruned} channels '
                  f'(total {self.pruned}), FLOPs {self.flops / 1e6:.3f} M (target '
                  f'{self.target / 1e6:.3f} M)', logger=self.logger)


def _run_groupfisher(model: nn.Module, cfg: Config, shape, supernet_flops: float,
                     target_flops: float, seed: int, interval: int, max_iters: int,
                     lr_ratio: float, normalization_type: str, out_dir: str,
                     logger) -> Tuple[nn.Module, object, Dict]:
    method = 'groupfisher'
    with _stage('build', method, out_dir, logger):
        from mmrazor.implementations.pruning.group_fisher import GroupFisherAlgorithm

        algorithm = GroupFisherAlgorithm(
            architecture=model, interval=interval,
            mutator=dict(
                type='GroupFisherChannelMutator',
                parse_cfg=dict(type='ChannelAnalyzer', tracer_type='FxTracer',
                               demo_input=tuple(shape)),
                channel_unit_cfg=dict(type='GroupFisherChannelUnit',
                                      default_args=dict(
                                          normalization_type=normalization_type))))
        mutator = algorithm.mutator
        units = mutator.mutable_units
        reasons = _unprunable_reasons(mutator)
        print_log(f'GroupFisherChannelMutator: {len(units)} of {len(mutator.units)} units '
                  f'prunable; not prunable: {reasons}', logger=logger)

        def measure() -> float:
            return _flops(algorithm.architecture, shape)

        smallest = _smallest_ratio(mutator, measure, supernet_flops)
        if smallest * supernet_flops > target_flops:
            raise _Failure(
                f'the FLOPs target ratio {target_flops / supernet_flops:.4f} is out of '
                f'GroupFisher\'s reach: with every prunable unit at one channel the '
                f'ratio is {smallest:.4f}; {len(units)} of {len(mutator.units)} channel '
                f'units are prunable, the others not, because of: {reasons}')
        optim_wrapper, optimizer = _optim_wrapper(cfg, algorithm, lr_ratio)

    with _stage('prune', method, out_dir, logger), _mutable_units_computed_once(mutator):
        start = time.time()
        events = _PruneEvents(mutator, measure, supernet_flops, target_flops,
                              max(max_iters // interval, 1), logger)
        mutator.try_prune = events
        hub = MessageHub.get_current_instance()
        batches = _batches(cfg, seed)
        algorithm.train()
        iterations, losses = 0, []
        # iterations from 1: each pruning step sees `interval` batches of Fisher info
        for iteration in range(1, max_iters + 1):
            hub.update_info('iter', iteration)
            log_vars = algorithm.train_step(next(batches), optim_wrapper)
            losses.append(float(torch.as_tensor(log_vars['loss']).detach()))
            iterations = iteration
            if iteration % interval == 0 and events.reached:
                break
        del mutator.try_prune
        if not events.reached:
            raise _Failure(f'the FLOPs target was not reached in {max_iters} iterations '
                           f'(FLOPs {events.flops:.0f} > {target_flops:.0f})')
        seconds = time.time() - start
    info = dict(
        name='mmrazor GroupFisher', algorithm='GroupFisherAlgorithm',
        mutator='GroupFisherChannelMutator', unit='GroupFisherChannelUnit',
        normalization_type=normalization_type, interval=interval, iterations=iterations,
        pruning_steps=events.done, channels_pruned=events.pruned,
        channels_per_step=[h['channels'] for h in events.history],
        prunable_units=len(units), units=len(mutator.units), unprunable=reasons,
        optimizer=to_plain(optimizer), lr_ratio=lr_ratio, seed=seed,
        loss_first=losses[0], loss_last=losses[-1], seconds=seconds,
        departure='a pruning step prunes as many channels (by try_prune, one at a time) as '
        'reach the target over the steps left, instead of one channel per step')
    return algorithm.architecture, mutator, info


# ---------------------------------------------------------------------------- L1 norm
def _run_l1(model: nn.Module, cfg: Config, shape, supernet_flops: float, target_flops: float,
            seed: int, interval: int, max_iters: int, lr_ratio: float, out_dir: str,
            logger) -> Tuple[nn.Module, object, Dict]:
    method = 'l1'
    prune_times = max(max_iters // interval, 1)
    with _stage('build', method, out_dir, logger):
        from mmrazor.models.algorithms import ItePruneAlgorithm

        algorithm = ItePruneAlgorithm(
            architecture=model,
            mutator_cfg=dict(
                type='ChannelMutator',
                channel_unit_cfg=dict(type='L1MutableChannelUnit',
                                      default_args=dict(choice_mode='ratio')),
                parse_cfg=dict(type='ChannelAnalyzer', tracer_type='FxTracer',
                               demo_input=tuple(shape))),
            step_freq=interval, prune_times=prune_times)
        mutator = algorithm.mutator
        units = mutator.mutable_units
        reasons = _unprunable_reasons(mutator)
        print_log(f'ChannelMutator (L1MutableChannelUnit): {len(units)} of '
                  f'{len(mutator.units)} units prunable; not prunable: {reasons}',
                  logger=logger)

        def ratio_at(choices: Dict[str, float]) -> float:
            mutator.set_choices(choices)
            return _flops(algorithm.architecture, shape) / supernet_flops

        def uniform(keep: float) -> Dict[str, float]:
            return {u.name: keep for u in units}

        def exact(counts: Dict[str, int]) -> Dict[str, float]:
            # a ratio that L1MutableChannelUnit turns into exactly this count
            return {u.name: (counts[u.name] + 0.5) / u.num_channels for u in units}

        target = target_flops / supernet_flops
        smallest = ratio_at(uniform(1e-6))
        if smallest > target:
            raise _Failure(
                f'the FLOPs target ratio {target:.4f} is out of reach of L1 pruning: with '
                f'every prunable unit at its smallest width the ratio is {smallest:.4f}; '
                f'not prunable: {reasons}')
        low, high = 0.0, 1.0
        for _ in range(16):
            mid = (low + high) / 2
            if ratio_at(uniform(mid)) <= target:
                low = mid
            else:
                high = mid
        keep = low
        # at a jump of the FLOPs between the two keep ratios, the counts of many units
        # change together (their widths are multiples of 16): the first `first` units
        # (widest first) take the upper count, found by bisection too
        lower = {u.name: max(1, int(u.num_channels * low)) for u in units}
        upper = {u.name: max(1, int(u.num_channels * high)) for u in units}
        order = sorted(units, key=lambda u: -u.num_channels)

        def mixed(first: int) -> Dict[str, int]:
            return {u.name: (upper if i < first else lower)[u.name] for i, u in enumerate(order)}

        below, above = 0, len(order)
        while above - below > 1:
            mid = (below + above) // 2
            if ratio_at(exact(mixed(mid))) <= target:
                below = mid
            else:
                above = mid
        counts = mixed(below)
        topped_up = [u.name for u in order[:below] if upper[u.name] != lower[u.name]]
        reached = ratio_at(exact(counts))
        algorithm.target_pruning_ratio = exact(counts)
        print_log(f'L1: keep ratio {keep:.4f} for all {len(units)} prunable units, one more '
                  f'channel in {len(topped_up)} of them: FLOPs ratio {reached:.4f}; reached '
                  f'over {prune_times} steps', logger=logger)
        mutator.set_choices(uniform(1.0))
        optim_wrapper, optimizer = _optim_wrapper(cfg, algorithm, lr_ratio)

    with _stage('prune', method, out_dir, logger):
        start = time.time()
        total = prune_times * interval
        hub = MessageHub.get_current_instance()
        hub.update_info('max_iters', total)
        hub.update_info('max_epochs', 1)  # ItePruneAlgorithm: iteration-based
        batches = _batches(cfg, seed)
        algorithm.train()
        losses = []
        for iteration in range(total):
            hub.update_info('iter', iteration)
            log_vars = algorithm.train_step(next(batches), optim_wrapper)
            losses.append(float(torch.as_tensor(log_vars['loss']).detach()))
        seconds = time.time() - start
    info = dict(
        name='mmrazor L1-norm (ItePruneAlgorithm)', algorithm='ItePruneAlgorithm',
        mutator='ChannelMutator', unit='L1MutableChannelUnit', keep_ratio=keep,
        topped_up_units=topped_up, kept_per_unit=counts,
        step_freq=interval, prune_times=prune_times, iterations=total,
        prunable_units=len(units), units=len(mutator.units), unprunable=reasons,
        optimizer=to_plain(optimizer), lr_ratio=lr_ratio, seed=seed, loss_first=losses[0],
        loss_last=losses[-1], seconds=seconds)
    return algorithm.architecture, mutator, info


# ---------------------------------------------------------------------- onto dms_mm
def _channel_keys(unit) -> List[Tuple]:
    return [(c.name, tuple(c.index), bool(c.is_output_channel))
            for c in list(unit.output_related) + list(unit.input_related)
            if isinstance(c.module, nn.Module)]


def kept_channels_per_unit(razor_mutator, dms_mutator: DMSMutator) -> Dict[str, List[int]]:
    """mmrazor's kept channels, per dms_mm channel unit.

    Units are matched by their layers: each channel of a layer (producer or
    consumer, with its channel range) that is in a dms_mm unit must be in an
    mmrazor unit that keeps the same channels as every other layer of the
    dms_mm unit. Layers mmrazor does not prune keep all their channels.

    Args:
        razor_mutator (ChannelMutator): mmrazor's mutator after pruning.
        dms_mutator (DMSMutator): A DMSMutator prepared on the same architecture.

    Returns:
        dict: ``{dms_mm unit name: sorted kept channel indices}``.

    Raises:
        RuntimeError: Naming the unit and layers where the two disagree.
    """
    table = {}
    for unit in razor_mutator.units:
        mask = unit.mutable_channel.current_mask.detach().bool().cpu()
        for key in _channel_keys(unit):
            table[key] = (unit.name, mask)
    kept, covered = {}, set()
    for unit in dms_mutator.units:
        keys = _channel_keys(unit)
        found = {key: table[key] for key in keys if key in table}
        missing = [key for key in keys if key not in table]
        covered.update(found)
        if not found:
            kept[unit.name] = list(range(unit.num_channels))
            continue
        (first_unit, mask), *others = found.values()
        for other_unit, other in others:
            if not torch.equal(mask, other):
                raise RuntimeError(
                    f'dms_mm unit {unit.name}: its layers are in mmrazor units {first_unit} and '
                    f'{other_unit}, which keep different channels')
        if mask.numel() != unit.num_channels:
            raise RuntimeError(f'dms_mm unit {unit.name} has {unit.num_channels} channels, '
                               f'mmrazor unit {first_unit} {mask.numel()}')
        if not bool(mask.all()) and missing:
            raise RuntimeError(
                f'dms_mm unit {unit.name}: mmrazor unit {first_unit} prunes it, but its layers '
                f'{[k[0] for k in missing][:3]} are in no mmrazor unit')
        kept[unit.name] = torch.nonzero(mask).flatten().tolist()
    for unit in razor_mutator.units:
        mask = unit.mutable_channel.current_mask
        lost = [key[0] for key in _channel_keys(unit) if key not in covered]
        if not bool(mask.all()) and lost:
            raise RuntimeError(f'mmrazor unit {unit.name} prunes layers that are in no dms_mm '
                               f'unit: {lost[:3]}')
    return kept


def _plain_state(pruned: nn.Module, plain: nn.Module) -> Dict[str, torch.Tensor]:
    """The weights of mmrazor's model under the plain architecture's keys."""
    state = pruned.state_dict()
    out = {}
    for key, value in plain.state_dict().items():
        if key not in state or state[key].shape != value.shape:
            raise RuntimeError(f'mmrazor\'s model has no full-size {key} ({tuple(value.shape)})')
        out[key] = state[key].detach().clone()
    return out


def _dms_subnet(cfg: Config, plain: nn.Module, razor_mutator,
                target: float) -> Tuple[Dict, nn.Module]:
    """The subnet dict of mmrazor's kept channels, all blocks kept, and the
    static model of ``plain`` (which holds the weights mmrazor trained)."""
    mutator_cfg = copy.deepcopy(cfg.model.mutator)
    mutator = DMSMutator(parse_cfg=dict(mutator_cfg.parse_cfg),
                         depth=dict(mutator_cfg.get('depth') or {}),
                         attention=dict(mutator_cfg.get('attention') or {}))
    mutator.prepare_from_supernet(plain)
    kept = kept_channels_per_unit(razor_mutator, mutator)
    model_cfg = cfg.model.architecture
    subnet = build_subnet(mutator, model_cfg, target)
    for entry in subnet['units']:
        entry['kept'] = kept[entry['name']]
    apply_subnet(mutator, subnet)
    subnet = build_subnet(mutator, model_cfg, target)
    subnet['mutator'] = dict(parse_cfg=to_plain(mutator.parse_cfg),
                             depth=to_plain(mutator.depth_cfg),
                             attention=to_plain(mutator.attention_cfg))
    return subnet, to_static(plain, mutator)


@torch.no_grad()
def _output_difference(cfg: Config, seed: int, pruned: nn.Module, static: nn.Module) -> float:
    """Largest difference of the two models' logits on a train batch, eval mode,
    relative to the largest logit of mmrazor's model."""
    data = pruned.data_preprocessor(next(_batches(cfg, seed)), False)
    reference = pruned.eval()(data['inputs'], mode='tensor')
    output = static.eval()(data['inputs'], mode='tensor')
    return float((output - reference).abs().max() / reference.abs().max().clamp_min(1e-12))


# --------------------------------------------------------------------------- the job
def mmrazor_prune(config_path: str, checkpoint: str, target: float, out_dir: str,
                  method: str = 'groupfisher', seed: int = 0, interval: int = 10,
                  max_iters: int = 200, lr_ratio: float = 0.1,
                  normalization_type: str = 'flops', train_images: Optional[int] = None,
                  cfg_options: Optional[Dict] = None) -> Dict:
    """Prune a trained supernet with mmrazor to a FLOPs target and write
    ``subnet.json`` and ``pruned.pth`` to ``out_dir``.

    Args:
        config_path (str): A dms_mm search config (``model.architecture``,
            ``model.mutator.parse_cfg.demo_input``, ``train_dataloader``,
            ``optim_wrapper.optimizer``).
        checkpoint (str): The trained supernet (the plain architecture).
        target (float): The FLOPs target, a fraction of the supernet's.
        out_dir (str): The folder to write to (created if missing).
        method (str): ``'groupfisher'`` or ``'l1'``. Defaults to
            ``'groupfisher'``.
        seed (int): Seed of torch and of the data sampler. Defaults to 0.
        interval (int): Iterations between two pruning steps (GroupFisher's
            ``interval``, ItePrune's ``step_freq``). Defaults to 10.
        max_iters (int): Training iterations over which the target is
            reached. Defaults to 200.
        lr_ratio (float): The config's learning rate is scaled by it, as in
            mmrazor's GroupFisher recipe. Defaults to 0.1.
        normalization_type (str): GroupFisher's ``'flops'``, ``'act'`` or
            ``'none'``. Defaults to ``'flops'``.
        train_images (int, optional): Sets ``train_dataloader.dataset.num_images``
            (the glyphs set of benchmarks/compare.py). Defaults to None.
        cfg_options (dict, optional): Overrides of the config, as
            ``--cfg-options`` takes them. Defaults to None.

    Returns:
        dict: The subnet dict written to ``subnet.json``; ``resources`` holds
        mmengine's counts and the mmrazor settings (``method``).

    Raises:
        ValueError: On a bad target, method or checkpoint.
        MMRazorPruneError: When mmrazor cannot prune the model or a check of
            the result fails; ``failed.json`` holds the reason.
    """
    if not 0 < target < 1:
        raise ValueError(f'target must be in (0, 1), got {target}')
    if method not in METHODS:
        raise ValueError(f'method must be one of {METHODS}, got {method!r}')
    if interval < 1 or max_iters < interval:
        raise ValueError(f'need 1 <= interval <= max_iters, got {interval} and {max_iters}')
    if not osp.isfile(checkpoint):
        raise ValueError(f'checkpoint {checkpoint!r} does not exist')
    os.makedirs(out_dir, exist_ok=True)
    for name in (SUBNET_FILE, PRUNED_FILE, FAILED_FILE):
        if osp.exists(osp.join(out_dir, name)):
            os.remove(osp.join(out_dir, name))
    with _run_log(out_dir) as logger:
        start = time.time()
        set_random_seed(seed)

        cfg = Config.fromfile(config_path)
        options = dict(cfg_options or {})
        if train_images is not None:
            options['train_dataloader.dataset.num_images'] = train_images
        cfg.merge_from_dict(options)
        shape = tuple(cfg.model.mutator.parse_cfg.demo_input)
        model = build_architecture(cfg)
        load_state_strict(model, checkpoint, 'the architecture of ' + config_path)
        supernet_flops, supernet_params = count_static(model, shape)
        target_flops = target * supernet_flops
        print_log(f'mmrazor_prune ({method}): supernet {supernet_flops / 1e6:.3f} MFLOPs, '
                  f'{supernet_params / 1e6:.4f} M params at {shape}; target {target} '
                  f'({target_flops / 1e6:.3f} MFLOPs)', logger=logger)
        plain = copy.deepcopy(model)

        if method == 'groupfisher':
            pruned, razor_mutator, info = _run_groupfisher(
                model, cfg, shape, supernet_flops, target_flops, seed, interval, max_iters,
                lr_ratio, normalization_type, out_dir, logger)
        else:
            pruned, razor_mutator, info = _run_l1(model, cfg, shape, supernet_flops, target_flops,
                                                  seed, interval, max_iters, lr_ratio, out_dir,
                                                  logger)
        info['mmrazor'] = __import__('mmrazor').__version__

        with _stage('map', method, out_dir, logger):
            plain.load_state_dict(_plain_state(pruned, plain), strict=True)
            subnet, static = _dms_subnet(cfg, plain, razor_mutator, target)

        with _stage('check', method, out_dir, logger):
            flops, params = count_static(static, shape)
            info.update(mmrazor_flops=_flops(pruned, shape),
                        output_difference=_output_difference(cfg, seed, pruned, static))
            ratio = flops / supernet_flops
            print_log(f'mmrazor_prune ({method}): static model {flops / 1e6:.3f} MFLOPs (ratio '
                      f'{ratio:.4f}, target {target}), {params / 1e6:.4f} M params; mmrazor\'s '
                      f'pruned model {info["mmrazor_flops"] / 1e6:.3f} MFLOPs; outputs differ '
                      f'by {info["output_difference"]:.2e} (relative)', logger=logger)
            if info['output_difference'] > MAX_OUTPUT_DIFFERENCE:
                raise _Failure(
                    'the static model\'s outputs differ from mmrazor\'s pruned model\'s by '
                    f'{info["output_difference"]:.2e} (relative) > {MAX_OUTPUT_DIFFERENCE}')
            if abs(flops - target_flops) > FLOPS_TOLERANCE * target_flops:
                raise _Failure(f'the static model has {flops:.0f} FLOPs, {ratio:.4f} of the '
                               f'supernet, more than {FLOPS_TOLERANCE:.0%} off the target {target}')

        with _stage('export', method, out_dir, logger):
            info.update(seconds_total=time.time() - start)
            subnet['resources'].update(
                static_flops=flops, static_params=params, counted_supernet_flops=supernet_flops,
                counted_supernet_params=supernet_params, target_ratio=target,
                method=to_plain(info))
            write_export(out_dir, subnet, static)
        print_log(f'mmrazor_prune ({method}): wrote {out_dir}/{SUBNET_FILE} and {PRUNED_FILE} in '
                  f'{time.time() - start:.0f} s', logger=logger)
        return subnet


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Prune a trained supernet with mmrazor (GroupFisher or L1) to a FLOPs '
        'target; write subnet.json and pruned.pth for the DMS retrain config')
    parser.add_argument('config', help='a dms_mm search config')
    parser.add_argument('checkpoint', help='the trained supernet (plain architecture)')
    parser.add_argument('--target', type=float, required=True, help='FLOPs target ratio')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--method', choices=METHODS, default='groupfisher')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--interval', type=int, default=10,
                        help='iterations between pruning steps')
    parser.add_argument('--max-iters', type=int, default=200,
                        help='iterations over which the target is reached')
    parser.add_argument('--lr-ratio', type=float, default=0.1)
    parser.add_argument('--normalization-type', default='flops', choices=('flops', 'act', 'none'))
    parser.add_argument('--train-images', type=int, default=None,
                        help='train_dataloader.dataset.num_images')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        subnet = mmrazor_prune(args.config, args.checkpoint, args.target, args.out_dir,
                               method=args.method, seed=args.seed, interval=args.interval,
                               max_iters=args.max_iters, lr_ratio=args.lr_ratio,
                               normalization_type=args.normalization_type,
                               train_images=args.train_images)
    except MMRazorPruneError as e:
        record = e.record
        lines = [f'mmrazor_prune: mmrazor {args.method} cannot prune this model in this stack '
                 f'(stage {record["stage"]!r}):', f'  error: {record["error"]}']
        if record.get('traceback_first'):
            lines += [f'  traceback, first frame: {record["traceback_first"]}',
                      f'  traceback, last frame:  {record["traceback_last"]}']
        lines.append(f'  written: {osp.join(args.out_dir, FAILED_FILE)}')
        print('\n'.join(lines), file=sys.stderr)
        return 1
    res = subnet['resources']
    print(f'mmrazor_prune ({args.method}): FLOPs ratio '
          f'{res["static_flops"] / res["counted_supernet_flops"]:.4f} (target {args.target}), '
          f'{res["static_params"] / 1e6:.4f} M params, outputs match mmrazor\'s to '
          f'{res["method"]["output_difference"]:.1e}, {res["method"]["seconds_total"]:.0f} s; '
          f'{args.out_dir}/{SUBNET_FILE}, {PRUNED_FILE}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
