"""Scaling up: grow a base model into a larger supernet before a DMS search.

The paper's default pipeline searches a supernet *larger* than the base model
down to the base model's budget, so that DMS may give some parts more width or
depth than the base had. :func:`expand_model` grows a built model in place:

* depth (``block_ratio``): every run of consecutive removable blocks in a
  stage (the blocks of one width) with ``R`` blocks gets
  ``round((block_ratio - 1) * R)`` (at least one) copies of its last block,
  inserted right after it;
* width (``channel_ratio``): every searchable channel unit grows from ``N`` to
  ``int(N * channel_ratio)`` channels, in every layer it spans (producers,
  norms, consumers). The original weights fill the unit's first ``N``
  channels; the new channels get PyTorch's default initialisation (ones and
  zeros for norms).

Units and stages are the ones a :class:`~dms_mm.mutators.DMSMutator` with
the same config finds, so what grows is exactly what the search can shrink.
Units that are fixed (the model's inputs and outputs, such as the class
logits) or left out keep their width. In the grown model, channel ``j < N``
of a unit and the first blocks of a stage are the base model's, so keeping
exactly those gives the base model back (``tests/test_structures/
test_expand.py`` checks this, output for output).
"""
import contextlib
import copy
import logging
import math
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
from mmengine.logging import MMLogger, print_log
from mmrazor.registry import MODELS
from torch import nn

from dms_mm.utils.config_keys import unknown_key_message

EXPAND_KEYS = ('channel_ratio', 'block_ratio', 'checkpoint')


class ExpandError(ValueError):
    """A model, ratio or layer that :func:`expand_model` cannot grow."""


class UnitGrowth(NamedTuple):
    name: str  # the unit's name before it grew (it names its width)
    layer: str  # its first producer layer
    channels: int
    new_channels: int


class StageGrowth(NamedTuple):
    name: str
    blocks: int
    copies: List[Tuple[str, int]]  # (copied block, number of copies)

    @property
    def added(self) -> int:
        return sum(n for _, n in self.copies)


class ExpansionReport(NamedTuple):
    """What :func:`expand_model` grew."""
    channel_ratio: float
    block_ratio: float
    units: List[UnitGrowth]
    stages: List[StageGrowth]
    kept_width: Dict[str, str]  # unit name -> why it keeps its width

    def summary(self) -> str:
        lines = [f'DMS expansion: channel_ratio {self.channel_ratio:g}, block_ratio '
                 f'{self.block_ratio:g}']
        grown = [u for u in self.units if u.new_channels != u.channels]
        lines.append(f'  channel units: {len(grown)} grown, {len(self.kept_width)} keep their '
                     'width')
        lines += [f'    [grown] {u.name}: {u.channels} -> {u.new_channels} channels'
                  for u in grown]
        lines += [f'    [kept] {name}: {why}' for name, why in self.kept_width.items()]
        lines.append(f'  stages: {sum(s.added > 0 for s in self.stages)} deepened')
        lines += [f'    [deepened] {s.name}: {s.blocks} -> {s.blocks + s.added} blocks ('
                  + ', '.join(f'{n} x {block}' for block, n in s.copies) + ')'
                  for s in self.stages if s.added]
        return '\n'.join(lines)

    def to_dict(self) -> Dict:
        """The expansion as plain data (for ``subnet.json``)."""
        return dict(channel_ratio=self.channel_ratio, block_ratio=self.block_ratio,
                    units={u.name: [u.channels, u.new_channels] for u in self.units},
                    stages={s.name: [s.blocks, s.blocks + s.added] for s in self.stages})


def is_growth_ratio(value) -> bool:
    """Whether ``value`` can be a ``channel_ratio`` or ``block_ratio``: a
    finite number >= 1 (not a bool)."""
    return (not isinstance(value, bool) and isinstance(value, (int, float))
            and math.isfinite(value) and value >= 1)


def grown_channels(channels: int, channel_ratio: float) -> int:
    """The width a unit of ``channels`` grows to."""
    return int(channels * channel_ratio)


def check_expand_cfg(expand: Optional[Dict], owner: str = 'model.expand') -> Optional[Dict]:
    """Validate an ``expand`` config; returns it with defaults filled in.

    Raises:
        TypeError: for an unknown key, naming the closest known one.
        ExpandError: for a ratio below 1.
    """
    if expand is None:
        return None
    expand = dict(expand)
    for key in expand:
        if key not in EXPAND_KEYS:
            raise TypeError(unknown_key_message(owner, key, EXPAND_KEYS))
    expand.setdefault('channel_ratio', 1.0)
    expand.setdefault('block_ratio', 1.0)
    expand.setdefault('checkpoint', None)
    for key in ('channel_ratio', 'block_ratio'):
        value = expand[key]
        if not is_growth_ratio(value):
            raise ExpandError(f'{owner}.{key} must be a number >= 1 (the supernet grows '
                              f'from the base model; DMS then shrinks it), got {value!r}')
    return expand


@contextlib.contextmanager
def _quiet_logs():
    """Silence the current logger while a throw-away mutator analyses the model
    (the search's own mutator logs the same findings afterwards)."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _analyse(model: nn.Module, mutator_cfg: Optional[Dict]):
    """A DMSMutator prepared on a copy of ``model`` (the model stays plain)."""
    cfg = copy.deepcopy(dict(mutator_cfg or dict(type='DMSMutator')))
    cfg.setdefault('type', 'DMSMutator')
    cfg.setdefault('_scope_', 'mmrazor')
    mutator = MODELS.build(cfg)
    with _quiet_logs():
        mutator.prepare_from_supernet(copy.deepcopy(model))
    if mutator.family_roots:
        raise ExpandError(
            'expand_model: the model has modules of a model family '
            f'({[name for _, name in mutator.family_roots]}); expanding their widths, heads '
            'and token parameters is not supported. Grow them through their own config '
            '(embed_dims, num_layers, ...), as configs/dms/deit/dms_deit-tiny_search_in1k.py '
            'does')
    return mutator


def _added_blocks(block_ratio: float, removable: int) -> int:
    if block_ratio <= 1 or removable == 0:
        return 0
    return max(1, int(round((block_ratio - 1) * removable)))


def _runs(indices: List[int]) -> List[List[int]]:
    """Consecutive runs of block indices: ``[1, 2, 4, 5] -> [[1, 2], [4, 5]]``."""
    runs: List[List[int]] = []
    for i in indices:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _deepen(model: nn.Module, stages, block_ratio: float) -> List[StageGrowth]:
    modules = dict(model.named_modules())
    grown = []
    # inner stages first, so that a copied outer block carries its grown inner stages
    for stage in sorted(stages, key=lambda s: -s.name.count('.')):
        runs = [(run[-1], _added_blocks(block_ratio, len(run)))
                for run in _runs(stage.removable)]
        runs = [(last, added) for last, added in runs if added]
        if not runs:
            continue
        sequential = modules[stage.name]
        names = list(sequential._modules)
        children = [(name, module) for name, module in sequential._modules.items()]
        for last, added in reversed(runs):  # from the back: earlier positions stay
            name, source = children[last]
            children[last + 1:last + 1] = [(f'{name}_copy{k}', copy.deepcopy(source))
                                           for k in range(added)]
        if all(n.isdigit() for n in names):
            children = [(str(i), module) for i, (_, module) in enumerate(children)]
        sequential._modules = OrderedDict(children)
        grown.append(StageGrowth(stage.name, len(names),
                                 [(stage.blocks[last].name, added) for last, added in runs]))
    order = {s.name: i for i, s in enumerate(stages)}
    return sorted(grown, key=lambda s: order[s.name])


def _index_map(size: int, ranges: List[Tuple[int, int, int]], where: str):
    """Old channel positions in the grown dimension, and its new size. Each
    ``(start, end, grow)`` range gets ``grow`` new channels right after it."""
    positions = torch.arange(size)
    last_end = 0
    for start, end, grow in sorted(set(ranges)):
        if start < last_end:
            raise ExpandError(f'expand_model: {where}: channel ranges of two units overlap '
                              f'({sorted(set(ranges))})')
        if end > size:
            raise ExpandError(f'expand_model: {where}: a unit spans channels [{start}, {end}) '
                              f'of a dimension of {size}')
        positions[end:] += grow
        last_end = end
    return positions, size + sum(g for _, _, g in set(ranges))


def _default_weight(shape, fan_in: int, like: torch.Tensor) -> torch.Tensor:
    """PyTorch's default init of conv and linear weights and biases."""
    tensor = torch.empty(shape, dtype=like.dtype, device=like.device)
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return tensor.uniform_(-bound, bound)


def _grown(old: torch.Tensor, new: torch.Tensor, index) -> nn.Parameter:
    new[index] = old.detach()
    return nn.Parameter(new, requires_grad=old.requires_grad)


@torch.no_grad()
def _grow_layer(name: str, module: nn.Module, maps: Dict[str, Tuple]) -> None:
    """Grow one layer along its channel dimensions; ``maps`` holds
    ``'in'``/``'out'`` -> (old positions, new size). Only layers that
    :func:`_growth_blocker` lets through come here."""
    if isinstance(module, nn.Conv2d):
        depthwise = module.groups > 1
        if depthwise:
            positions, size = _one_channel_map(name, maps)
            out_pos, out_size, in_pos, in_size, groups = positions, size, None, size, size
        else:
            out_pos, out_size = maps.get('out', (None, module.out_channels))
            in_pos, in_size = maps.get('in', (None, module.in_channels))
            groups = 1
        in_per_group = in_size // groups
        fan_in = in_per_group * math.prod(module.kernel_size)
        weight = _default_weight((out_size, in_per_group, *module.kernel_size), fan_in,
                                 module.weight)
        index = _weight_index(out_pos, module.out_channels, in_pos, module.weight.shape[1])
        module.weight = _grown(module.weight, weight, index)
        if module.bias is not None:
            bias = _default_weight((out_size, ), fan_in, module.bias)
            module.bias = _grown(module.bias, bias, _vector_index(out_pos, module.out_channels))
        module.in_channels, module.out_channels, module.groups = in_size, out_size, groups
    elif isinstance(module, nn.Linear):
        out_pos, out_size = maps.get('out', (None, module.out_features))
        in_pos, in_size = maps.get('in', (None, module.in_features))
        weight = _default_weight((out_size, in_size), in_size, module.weight)
        module.weight = _grown(module.weight, weight,
                               _weight_index(out_pos, module.out_features, in_pos,
                                             module.in_features))
        if module.bias is not None:
            bias = _default_weight((out_size, ), in_size, module.bias)
            module.bias = _grown(module.bias, bias, _vector_index(out_pos, module.out_features))
        module.in_features, module.out_features = in_size, out_size
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        positions, size = _one_channel_map(name, maps)
        _grow_vectors(module, dict(weight=1.0, bias=0.0, running_mean=0.0, running_var=1.0),
                      positions, size)
        module.num_features = size
    elif isinstance(module, nn.LayerNorm):
        positions, size = _one_channel_map(name, maps)
        _grow_vectors(module, dict(weight=1.0, bias=0.0), positions, size)
        module.normalized_shape = (size, )


def _grow_vectors(module: nn.Module, fills: Dict[str, float], positions, size: int) -> None:
    """Grow the per-channel parameters and buffers of a norm layer; new channels
    get ``fills`` (a fresh layer's values)."""
    for key, fill in fills.items():
        old = getattr(module, key)
        if old is None:
            continue
        new = torch.full((size, ), fill, dtype=old.dtype, device=old.device)
        if isinstance(old, nn.Parameter):
            setattr(module, key, _grown(old, new, positions))
        else:
            new[positions] = old
            setattr(module, key, new)


def _one_channel_map(name: str, maps: Dict[str, Tuple]):
    """The map of a layer with one channel dimension (norms, depthwise convs)."""
    if 'in' in maps and 'out' in maps and not (
            maps['in'][1] == maps['out'][1] and torch.equal(maps['in'][0], maps['out'][0])):
        raise ExpandError(f'expand_model: {name} ties its input and output channels, but they '
                          'would grow differently')
    return maps.get('out') or maps['in']


def _vector_index(positions, size: int):
    return torch.arange(size) if positions is None else positions


def _weight_index(out_pos, out_size: int, in_pos, in_size: int):
    rows = _vector_index(out_pos, out_size)
    cols = _vector_index(in_pos, in_size)
    return rows[:, None], cols[None, :]


def _growth_blocker(name: str, module: nn.Module) -> Optional[str]:
    """Why a layer of a unit cannot grow, or None when it can."""
    if isinstance(module, nn.Conv2d):
        if module.groups > 1 and not module.groups == module.in_channels == module.out_channels:
            return f'{name} is a grouped convolution (groups={module.groups})'
    elif isinstance(module, nn.LayerNorm):
        if len(module.normalized_shape) != 1:
            return f'{name} normalises over {tuple(module.normalized_shape)}, not the channels'
    elif not isinstance(module, (nn.Linear, nn.modules.batchnorm._BatchNorm)) and \
            any(True for _ in module.parameters(recurse=False)):
        return f'dms_mm cannot grow {name} ({type(module).__name__})'
    return None


def _widen(model: nn.Module, mutator, channel_ratio: float):
    units, kept = [], {}
    ranges: Dict[Tuple[str, str], List[Tuple[int, int, int]]] = {}
    searchable = {id(u) for u in mutator.searchable_units}
    modules = dict(model.named_modules())
    for unit in mutator.units:
        if id(unit) not in searchable:
            kept[unit.name] = (mutator.excluded_units.get(unit.name)
                               or mutator.fixed_units.get(unit.name)
                               or 'not searched, so it keeps its width')
            continue
        # functions (add, mul, cat) have no module and carry no weights
        channels = [c for c in list(unit.output_related) + list(unit.input_related)
                    if isinstance(c.module, nn.Module)]
        blockers = {b for b in (_growth_blocker(c.name, modules[c.name]) for c in channels) if b}
        if blockers:
            kept[unit.name] = '; '.join(sorted(blockers)) + ', so it keeps its width'
            continue
        new = grown_channels(unit.num_channels, channel_ratio)
        units.append(UnitGrowth(unit.name, unit.output_related[0].name, unit.num_channels, new))
        for channel in channels:
            side = 'out' if channel.is_output_channel else 'in'
            ranges.setdefault((channel.name, side), []).append(
                (channel.start, channel.end, new - unit.num_channels))
    layers: Dict[str, Dict[str, Tuple]] = {}
    for (name, side), spans in ranges.items():
        module = modules[name]
        size = _channel_size(module, side)
        if size is None:
            continue
        layers.setdefault(name, {})[side] = _index_map(size, spans, f'{name} ({side}put)')
    for name, maps in layers.items():
        _grow_layer(name, modules[name], maps)
    return units, kept


def _channel_size(module: nn.Module, side: str) -> Optional[int]:
    """The size of a layer's channel dimension, or None for layers without
    weights along channels (activations, identities)."""
    if isinstance(module, nn.Conv2d):
        return module.out_channels if side == 'out' else module.in_channels
    if isinstance(module, nn.Linear):
        return module.out_features if side == 'out' else module.in_features
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return module.num_features
    if isinstance(module, nn.LayerNorm):
        return module.normalized_shape[-1]
    return None


def expand_model(model: nn.Module, channel_ratio: float = 1.0, block_ratio: float = 1.0,
                 mutator: Optional[Dict] = None, logger='current') -> ExpansionReport:
    """Grow ``model`` in place into a larger supernet, keeping its weights.

    The growth is done on a copy and moved into ``model`` once the grown model
    runs, so a failure leaves ``model`` unchanged.

    Args:
        model (nn.Module): The built base model (plain, not yet under DMS).
        channel_ratio (float): Each searchable unit grows to
            ``int(N * channel_ratio)`` channels. Defaults to 1.0.
        block_ratio (float): Each run of ``R`` consecutive removable blocks
            of a stage gets ``round((block_ratio - 1) * R)`` (at least one)
            copies of its last block. Defaults to 1.0.
        mutator (dict, optional): The DMSMutator config of the search, so
            that the same units and stages are grown. Defaults to
            ``dict(type='DMSMutator')``.

    Returns:
        ExpansionReport: What grew, and which units kept their width and why.

    Raises:
        ExpandError: for a ratio below 1, a model family (ViT) module, a
            layer type that cannot grow, or a grown model whose forward fails.
    """
    check_expand_cfg(dict(channel_ratio=channel_ratio, block_ratio=block_ratio))
    # grown on a copy: on any error, ``model`` is left as it was
    grown = copy.deepcopy(model)
    stages: List[StageGrowth] = []
    if block_ratio > 1:
        analysis = _analyse(grown, mutator)
        stages = _deepen(grown, analysis.stage_report, block_ratio)
    units: List[UnitGrowth] = []
    kept: Dict[str, str] = {}
    analysis = _analyse(grown, mutator)
    if channel_ratio > 1:
        units, kept = _widen(grown, analysis, channel_ratio)
    report = ExpansionReport(float(channel_ratio), float(block_ratio), units, stages, kept)
    _check_forward(grown, analysis.demo_input_shape)
    for key in ('_modules', '_parameters', '_buffers'):
        model.__dict__[key] = grown.__dict__[key]
    print_log(report.summary(), logger=logger)
    return report


@torch.no_grad()
def _check_forward(model: nn.Module, shape) -> None:
    was_training = model.training
    model.eval()
    param = next(model.parameters(), None)
    device = param.device if param is not None else 'cpu'
    try:
        model(torch.rand(tuple(shape), device=device))
    except Exception as e:  # noqa: BLE001 (re-raised with the cause named)
        raise ExpandError(
            f'expand_model: the grown model fails on an input of shape {tuple(shape)} '
            f'({type(e).__name__}: {e}); a layer outside the traced units probably depends '
            'on a grown width; the model was left as it was. Expand depth only '
            '(channel_ratio=1), or make that layer follow the width of its input') from e
    finally:
        model.train(was_training)
