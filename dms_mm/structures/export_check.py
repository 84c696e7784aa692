"""The export of a search, tried while the mutator is prepared.

A structure that cannot be exported (a layer whose forward reshapes to its
full width, a stage whose blocks cannot be deleted, an attention whose export
is not the searched function) would otherwise fail only when the search
ends, hours later. :func:`check_export` exports a random structure of a copy
of the prepared model, runs it on the demo input, and compares it with the
searched model under the same hard masks; a failure names the module.
"""
import copy
import re
from typing import Callable, Dict, List, Optional

import torch
from mmrazor.models.architectures.dynamic_ops import DynamicChannelMixin
from torch import nn

from dms_mm.resources import FunctionalOpCounter, MutableCounts, counter_type, record_functional_ops
from dms_mm.resources.latency_table import model_forward
from dms_mm.utils.demo_inputs import demo_inputs
from dms_mm.utils.outputs import flat_tensors
from dms_mm.utils.running_modules import running_modules

from .random_structure import randomize_structure
from .static import removed_blocks, to_static

#: what a user can do about a failed check, in every message
REMEDY = ('Leave the module out of the search (depth=dict(exclude=[...]) for a stage; '
          'dms_mm.dynamic_ops.register_dms_op for a layer of your own; a model family for '
          "anything else), or turn this check off with the mutator's check_export=False "
          '(then the export may fail when the search ends)')


class ExportCheckError(RuntimeError):
    """A random structure of the prepared model does not export."""


def _record_outputs(model: nn.Module, rename: Callable[[str], str]) -> Dict[str, List]:
    """Hooks that keep the first output tensors of every module, by the name
    ``rename`` gives it; returns the dict they fill and their handles."""
    outputs: Dict[str, List] = {}
    handles = []

    def recorder(name):

        def hook(_module, _args, output):
            if name not in outputs:
                outputs[name] = [t.detach().clone()
                                 for t in flat_tensors(output, strict=False)]

        return hook

    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_hook(recorder(rename(name))))
    return outputs, handles


def _kept_outputs(model: nn.Module) -> Dict[str, torch.Tensor]:
    """The hard mask over the output channels of every op of the searched
    model whose output channels a search selects, by name."""
    kept = {}
    for name, module in model.named_modules():
        if isinstance(module, DynamicChannelMixin):
            container = module.get_mutable_attr('out_channels')
            try:
                mask = None if container is None else torch.as_tensor(container.current_mask)
            except Exception:  # a container with no mask to give: nothing to compare by
                mask = None
            if mask is not None and not bool(mask.all()):
                kept[name] = mask.bool()
    return kept


def _kept_part(tensor: torch.Tensor, mask: Optional[torch.Tensor],
               shape: torch.Size) -> torch.Tensor:
    """``tensor`` at the kept channels of ``mask``, along the one dim where
    that gives ``shape`` (the tensor itself when none does)."""
    if mask is None or tensor.dim() != len(shape):
        return tensor
    for dim, size in enumerate(tensor.shape):
        if size == mask.numel() and shape[dim] == int(mask.sum()) and all(
                tensor.shape[d] == shape[d] for d in range(len(shape)) if d != dim):
            return tensor.index_select(dim, torch.nonzero(mask.to(tensor.device)).flatten())
    return tensor


def relative_difference(expected: List[torch.Tensor], got: List[torch.Tensor],
                         kept: Optional[torch.Tensor] = None) -> float:
    """The largest difference over the largest magnitude, at the kept
    channels of ``kept`` where the export has only those (inf when the
    shapes differ)."""
    if len(expected) != len(got):
        return float('inf')
    expected = [_kept_part(a, kept, b.shape) for a, b in zip(expected, got)]
    if any(a.shape != b.shape for a, b in zip(expected, got)):
        return float('inf')
    worst = 0.0
    for a, b in zip(expected, got):
        if not a.is_floating_point():
            worst = max(worst, 0.0 if torch.equal(a, b) else float('inf'))
            continue
        scale = a.abs().max().clamp_min(1e-12)
        worst = max(worst, float((a - b).abs().max() / scale))
    return worst


def _static_to_searched_names(mutator) -> Callable[[str], str]:
    """The searched model's name of a static module: the blocks after a
    removed one are numbered down in the export."""
    shifts = {}
    for stage, gone in removed_blocks(mutator).items():
        gone = sorted(int(name.rsplit('.', 1)[1]) for name in gone)
        if gone:
            shifts[stage] = gone
    if not shifts:
        return lambda name: name
    pattern = re.compile('^(' + '|'.join(re.escape(s) for s in sorted(shifts, key=len,
                                                                      reverse=True)) +
                         r')\.(\d+)(.*)$')

    def rename(name: str) -> str:
        match = pattern.match(name)
        if match is None:
            return name
        stage, position, rest = match.group(1), int(match.group(2)), match.group(3)
        for removed in shifts[stage]:  # the position-th block not removed
            if removed <= position:
                position += 1
        return f'{stage}.{position}{rest}'

    return rename


def _counted_functional_ops(mutator) -> Dict[str, float]:
    """What the mutator counts, at its current structure, for the ops called
    outside the layers, by ``op in module`` (scaled by their block's depth
    mask, as the estimator scales them)."""
    counts = MutableCounts()
    counted: Dict[str, float] = {}
    for counter, block in mutator.resources.all_counters():
        if isinstance(counter, FunctionalOpCounter):
            flops = counter.flops(counts)
            if block is not None:
                flops = flops * counts.block_scale(*block)
            key = f'{counter.op} in {counter.name or "the model"}'
            counted[key] = counted.get(key, 0.0) + float(flops)
    return {key: flops for key, flops in counted.items() if flops}


def _functional_differences(static: nn.Module, x: torch.Tensor, counted: Dict[str, float],
                            attentions, rename: Callable[[str], str]) -> Dict[str, float]:
    """The ops called outside the layers whose FLOPs in the exported model
    differ from what the mutator ``counted`` for its structure, by ``op in
    module``: the FLOPs counted less those of the export."""
    covered = {n for n, m in static.named_modules()
               if counter_type(m) is not None or rename(n) in attentions}
    with record_functional_ops(static, covered) as calls:
        model_forward(static, x)()
    found: Dict[str, float] = {}
    for call in calls:
        key = f'{call.op} in {rename(call.module) or "the model"}'
        found[key] = found.get(key, 0.0) + call.flops
    return {key: counted.get(key, 0.0) - found.get(key, 0.0)
            for key in set(counted) | set(found)
            if abs(counted.get(key, 0.0) - found.get(key, 0.0)) > 1e-6 * max(
                counted.get(key, 0.0), found.get(key, 0.0))}


@torch.no_grad()
def check_export(architecture: nn.Module, mutator, seed: int = 0,
                 rtol: float = 1e-4, count_tolerance: float = 0.01) -> Optional[float]:
    """Export a random structure of a copy of ``architecture`` (every
    searched part loses at least one element) and compare it with the
    searched copy under the same hard masks.

    Args:
        architecture (nn.Module): The prepared model (left as it is).
        mutator (DMSMutator): Its mutator (left as it is).
        seed (int): The random structure and demo input. Defaults to 0.
        rtol (float): The largest relative difference of the outputs.
            Defaults to 1e-4.
        count_tolerance (float): The largest share of the random structure's
            soft FLOPs by which ops called outside the layers (counted at full
            width) may differ from the export's. Those that differ at all go
            to ``mutator.approximate_counts``. Defaults to 0.01.

    Returns:
        float | None: The relative difference of the outputs; None when
        nothing is searched.

    Raises:
        ExportCheckError: The export raises, the exported model raises, its
            outputs differ, or the FLOPs of ops no DMS op models change with the
            searched widths beyond ``count_tolerance``; the message names the
            module or op and what to do.
    """
    if not any(True for _ in mutator.dms_mutables()):
        return None
    mutator.clear_masks()
    prepared = mutator
    model, mutator = copy.deepcopy((architecture, mutator))
    randomize_structure(mutator, seed)
    for mutable in mutator.dms_mutables():  # every searched part loses something
        if not mutable.frozen and mutable.num_elements > 1 \
                and mutable.num_kept == mutable.num_elements:
            mutable.set_keep_count(mutable.num_elements - 1)
    mutator.clamp_()
    soft_flops = float(mutator.soft_resources()['flops'])
    counted = _counted_functional_ops(mutator)
    model.eval()
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    x = demo_inputs(model, mutator.demo_input_shape, device, generator)
    mutator.refresh_masks('hard')
    kept = _kept_outputs(model)
    expected_by_module, handles = _record_outputs(model, lambda name: name)
    try:
        expected = flat_tensors(model_forward(model, x)(), strict=False)
    finally:
        for handle in handles:
            handle.remove()
        mutator.clear_masks()
    try:
        static = to_static(model, mutator, inplace=True).eval()
    except Exception as error:
        raise ExportCheckError(
            f'DMSMutator: the export of a random structure fails while the mutator is '
            f'prepared: {type(error).__name__}: {error}. {REMEDY}.') from error
    rename = _static_to_searched_names(mutator)
    got_by_module, handles = _record_outputs(static, rename)
    try:
        with running_modules(static) as running:
            try:
                got = flat_tensors(model_forward(static, x)(), strict=False)
            except Exception as error:
                where = running[-1] if running else 'the model'
                raise ExportCheckError(
                    f'DMSMutator: the exported model of a random structure fails in {where} '
                    f'({type(static.get_submodule(where)).__name__ if running else ""}): '
                    f'{type(error).__name__}: {error}. {REMEDY}.') from error
    finally:
        for handle in handles:
            handle.remove()
    difference = relative_difference(expected, got)
    if difference > rtol:
        # the first module whose output (at its kept channels) differs is the first
        # that computes something else
        first = next((name for name, tensors in got_by_module.items()
                      if name in expected_by_module and rtol < relative_difference(
                          expected_by_module[name], tensors, kept.get(name)) < float('inf')),
                     'the model output')
        raise ExportCheckError(
            f'DMSMutator: the exported model of a random structure differs from the searched '
            f'one under the same masks (relative difference {difference:.2e}); first in '
            f'{first}, in the order the exported model runs. {REMEDY}.')
    changed = _functional_differences(static, x, counted, set(mutator.attention_names), rename)
    share = sum(abs(v) for v in changed.values()) / max(soft_flops, 1e-12)
    ops = sorted(changed, key=lambda k: -abs(changed[k]))
    if share > count_tolerance:
        raise ExportCheckError(
            f'DMSMutator: the FLOPs of ops called outside the layers change with the searched '
            f'widths, and no DMS op models them: {", ".join(ops[:3])}'
            f'{f" and {len(ops) - 3} more" if len(ops) > 3 else ""}; the soft FLOPs of a random '
            f'structure would be off by {100 * share:.1f} % (at most {100 * count_tolerance:g} '
            f'%). {REMEDY}.')
    prepared.approximate_counts = {
        key: f'FLOPs counted as at full width, {changed[key] / 1e6:+.4f} MFLOPs against the export '
             'of a random structure (a searched width changes them; no DMS op models them)'
        for key in ops}
    return difference
