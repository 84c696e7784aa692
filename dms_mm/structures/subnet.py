"""The subnet file: what a DMS search kept, in plain JSON.

Layout (``format: dms_mm.subnet/1``)::

    {
      "format": "dms_mm.subnet/1",
      "model": {...},                 # the architecture config it applies to
      "demo_input": [1, 3, 224, 224], # the input the FLOPs are counted at
      "units": [{"name", "num_channels", "kept": [sorted channel indices], "searched"}],
      "stages": [{"name", "num_blocks", "removable": [...], "kept_blocks": [...]}],
      "attention": [{"name", "num_heads", "head_dims", "kept_heads", "kept_qk_dims",
                     "kept_v_dims"}],  # for models with searched attention
      "expand": {"channel_ratio", "block_ratio", "units": {name: [before, after]},
                 "stages": {name: [before, after]}},  # for a supernet grown from the model
      "resources": {"supernet_flops", "soft_flops", "supernet_params", "soft_params",
                    "target_ratio", "supernet_latency_ms", "soft_latency_ms" (with a
                    latency table), ...}
    }
"""
import json
import os.path as osp
from typing import Dict, Union

import torch

from .expand import grown_channels, is_growth_ratio

SUBNET_FORMAT = 'dms_mm.subnet/1'
_ATTENTION_KEYS = ('name', 'num_heads', 'head_dims', 'kept_heads', 'kept_qk_dims', 'kept_v_dims')


class SubnetError(ValueError):
    """A subnet file that is malformed or does not fit the model."""


def build_subnet(mutator, model_cfg=None, target_ratio=None) -> Dict:
    """The subnet dict of the mutator's current hard masks."""
    units = []
    for unit in mutator.units:
        mask = unit.mutable_channel.current_mask
        units.append(dict(name=unit.name, num_channels=int(unit.num_channels),
                          kept=torch.nonzero(mask).flatten().tolist(),
                          searched=unit.name not in mutator.excluded_units))
    stages = []
    report = {stage.name: stage for stage in mutator.stage_report}
    for name, mutable in zip(mutator.stage_names, mutator.stages):
        stage = report[name]
        kept_removable = {stage.removable[i] for i in mutable.kept_indices()}
        kept = [i for i in range(len(stage.blocks))
                if i not in stage.removable or i in kept_removable]
        stages.append(dict(name=name, num_blocks=len(stage.blocks), removable=stage.removable,
                           kept_blocks=kept))
    with torch.no_grad():
        resources = mutator.soft_resources()
    latency = {} if 'latency' not in resources else dict(
        supernet_latency_ms=mutator.supernet_latency,
        soft_latency_ms=float(resources['latency']))
    return dict(
        format=SUBNET_FORMAT,
        model=to_plain(model_cfg),
        demo_input=list(mutator.demo_input_shape),
        units=units,
        stages=stages,
        attention=[dict(name=name, num_heads=a.num_heads, head_dims=a.head_dims,
                        kept_heads=kept['heads'], kept_qk_dims=kept['qk_dims'],
                        kept_v_dims=kept['v_dims'])
                   for name, a in zip(mutator.attention_names, mutator.attentions)
                   for kept in (a.kept(), )],
        resources=dict(
            supernet_flops=mutator.supernet_flops, soft_flops=float(resources['flops']),
            supernet_params=mutator.supernet_params, soft_params=float(resources['params']),
            target_ratio=target_ratio, **latency))


def to_plain(cfg):
    """A config (ConfigDict, tuples, ...) as JSON-able plain data."""
    if cfg is None:
        return None
    if hasattr(cfg, 'to_dict'):
        cfg = cfg.to_dict()
    return json.loads(json.dumps(cfg, default=str))


def load_subnet(subnet: Union[str, Dict]) -> Dict:
    """Read and check a subnet file (or dict).

    Raises:
        SubnetError: naming the file and the key at fault.
    """
    source = 'subnet dict'
    if isinstance(subnet, str):
        source = subnet
        if not osp.isfile(subnet):
            raise SubnetError(f'subnet file {subnet!r} does not exist')
        try:
            with open(subnet, encoding='utf-8') as f:
                subnet = json.load(f)
        except json.JSONDecodeError as e:
            raise SubnetError(f'{source}: not valid JSON ({e})') from None
    if not isinstance(subnet, dict):
        raise SubnetError(f'{source}: expected a JSON object, got {type(subnet).__name__}')
    if subnet.get('format') != SUBNET_FORMAT:
        raise SubnetError(f'{source}: key "format" must be {SUBNET_FORMAT!r}, got '
                          f'{subnet.get("format")!r}')
    for key, kind in (('units', list), ('stages', list)):
        if not isinstance(subnet.get(key), kind):
            raise SubnetError(f'{source}: key "{key}" must be a list')
    for i, unit in enumerate(subnet['units']):
        for key in ('name', 'num_channels', 'kept'):
            if key not in unit:
                raise SubnetError(f'{source}: units[{i}] lacks "{key}"')
        _check_count(source, f'units[{i}] ({unit["name"]})', 'num_channels',
                     unit['num_channels'])
        _check_indices(source, f'units[{i}] ({unit["name"]})', 'kept', unit['kept'])
    for i, stage in enumerate(subnet['stages']):
        for key in ('name', 'num_blocks', 'removable', 'kept_blocks'):
            if key not in stage:
                raise SubnetError(f'{source}: stages[{i}] lacks "{key}"')
        _check_count(source, f'stages[{i}] ({stage["name"]})', 'num_blocks',
                     stage['num_blocks'])
        for key in ('removable', 'kept_blocks'):
            _check_indices(source, f'stages[{i}] ({stage["name"]})', key, stage[key])
    if not isinstance(subnet.setdefault('attention', []), list):
        raise SubnetError(f'{source}: key "attention" must be a list')
    for i, entry in enumerate(subnet['attention']):
        for key in _ATTENTION_KEYS:
            if key not in entry:
                raise SubnetError(f'{source}: attention[{i}] lacks "{key}"')
        for key in ('num_heads', 'head_dims'):
            _check_count(source, f'attention[{i}] ({entry["name"]})', key, entry[key])
        for key in ('kept_heads', 'kept_qk_dims', 'kept_v_dims'):
            _check_indices(source, f'attention[{i}] ({entry["name"]})', key, entry[key])
    if subnet.get('expand') is not None:
        _check_expand(source, subnet)
    return subnet


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_count(source: str, where: str, key: str, value) -> None:
    if not _is_int(value) or value < 1:
        raise SubnetError(f'{source}: {where}: "{key}" must be a positive integer, '
                          f'got {value!r}')


def _check_indices(source: str, where: str, key: str, value) -> None:
    """A list of distinct non-negative integers (JSON booleans are not)."""
    if not isinstance(value, list) or not all(_is_int(v) and v >= 0 for v in value):
        shown = value[:5] if isinstance(value, list) else value
        raise SubnetError(f'{source}: {where}: "{key}" must be a list of non-negative '
                          f'integer indices, got {shown!r}')
    if len(set(value)) != len(value):
        twice = sorted({v for v in value if value.count(v) > 1})
        raise SubnetError(f'{source}: {where}: "{key}" lists indices {twice[:5]} more than '
                          'once')


def _check_expand(source: str, subnet: Dict) -> None:
    """The expansion's ratios are numbers >= 1, and the widths and depths it
    records are the ones those ratios give and the ones the file lists."""
    expand = subnet['expand']
    if not isinstance(expand, dict):
        raise SubnetError(f'{source}: key "expand" must be an object')
    for key in ('channel_ratio', 'block_ratio'):
        value = expand.get(key)
        if not is_growth_ratio(value):
            raise SubnetError(f'{source}: "expand.{key}" must be a number >= 1 (the ratio '
                              f'the supernet was grown by), got {value!r}')
    ratio = expand['channel_ratio']
    widths = {u['name']: u['num_channels'] for u in subnet['units']}
    for name, sizes in (expand.get('units') or {}).items():
        if not (isinstance(sizes, list) and len(sizes) == 2 and all(map(_is_int, sizes))):
            raise SubnetError(f'{source}: "expand.units.{name}" must be [channels before, '
                              f'after], got {sizes!r}')
        before, after = sizes
        if after != grown_channels(before, ratio) or widths.get(name, after) != after:
            raise SubnetError(
                f'{source}: "expand.units.{name}" records {before} -> {after} channels, but '
                f'channel_ratio {ratio} gives {grown_channels(before, ratio)} and "units" lists '
                f'{widths.get(name)}; the file was edited or is corrupted')
    depths = {s['name']: s['num_blocks'] for s in subnet['stages']}
    for name, sizes in (expand.get('stages') or {}).items():
        if not (isinstance(sizes, list) and len(sizes) == 2 and all(map(_is_int, sizes))
                and sizes[0] <= sizes[1] and depths.get(name, sizes[1]) == sizes[1]):
            raise SubnetError(
                f'{source}: "expand.stages.{name}" must be [blocks before, after] with the '
                f'"num_blocks" that "stages" lists ({depths.get(name)}), got {sizes!r}')


def apply_subnet(mutator, subnet: Dict) -> None:
    """Fix the mutator's masks to the subnet's choices.

    Raises:
        SubnetError: when the subnet was written for another model (unit or
            stage names, widths or block counts differ) or holds indices out
            of range.
    """
    units = {unit.name: unit for unit in mutator.units}
    listed = {u['name'] for u in subnet['units']}
    missing, unknown = sorted(set(units) - listed), sorted(listed - set(units))
    if unknown or missing:
        raise SubnetError(
            'the subnet was written for another model: '
            + (f'units not in this model: {unknown[:3]}' if unknown else '')
            + ('; ' if unknown and missing else '')
            + (f'units of this model missing from it: {missing[:3]}' if missing else ''))
    for entry in subnet['units']:
        unit = units[entry['name']]
        if int(entry['num_channels']) != unit.num_channels:
            raise SubnetError(f'unit {entry["name"]}: the subnet says {entry["num_channels"]} '
                              f'channels, this model has {unit.num_channels}')
        kept = entry['kept']
        bad = [k for k in kept if not 0 <= k < unit.num_channels]
        if bad:
            raise SubnetError(f'unit {entry["name"]}: kept channel indices {bad[:5]} are out of '
                              f'range [0, {unit.num_channels - 1}]')
        if not kept:
            raise SubnetError(f'unit {entry["name"]}: keeps no channel')
        mutable = unit.mutable_channel
        if mutable.group_size != 1:
            groups = sorted({k // mutable.group_size for k in kept})
            if len(groups) * mutable.group_size != len(set(kept)):
                raise SubnetError(f'unit {entry["name"]}: kept channels do not form whole '
                                  f'groups of {mutable.group_size}')
            kept = groups
        mutable.set_kept(kept)
        mutable.freeze()

    stages = dict(zip(mutator.stage_names, zip(mutator.stages, mutator.stage_report_removable())))
    listed = {s['name'] for s in subnet['stages']}
    if set(stages) != listed:
        raise SubnetError('the subnet was written for another model: stages differ '
                          f'(file: {sorted(listed)[:4]}, model: {sorted(stages)[:4]})')
    for entry in subnet['stages']:
        mutable, removable = stages[entry['name']]
        if list(entry['removable']) != list(removable):
            raise SubnetError(f'stage {entry["name"]}: removable blocks {entry["removable"]} '
                              f'in the subnet, {removable} in this model')
        bad = [b for b in entry['kept_blocks'] if not 0 <= b < int(entry['num_blocks'])]
        if bad:
            raise SubnetError(f'stage {entry["name"]}: kept block indices {bad} are out of '
                              f'range [0, {int(entry["num_blocks"]) - 1}]')
        kept = set(entry['kept_blocks'])
        fixed = [b for b in range(int(entry['num_blocks'])) if b not in removable]
        if not set(fixed) <= kept:
            raise SubnetError(f'stage {entry["name"]}: blocks {sorted(set(fixed) - kept)} '
                              'cannot be removed (they have no identity skip)')
        mutable.set_kept([i for i, b in enumerate(removable) if b in kept])
        mutable.freeze()

    attentions = dict(zip(mutator.attention_names, mutator.attentions))
    listed = {a['name'] for a in subnet.get('attention', [])}
    if set(attentions) != listed:
        raise SubnetError('the subnet was written for another model: attentions differ '
                          f'(file: {sorted(listed)[:3]}, model: {sorted(attentions)[:3]})')
    for entry in subnet.get('attention', []):
        mutables = attentions[entry['name']]
        for key, size in (('num_heads', mutables.num_heads), ('head_dims', mutables.head_dims)):
            if int(entry[key]) != size:
                raise SubnetError(f'attention {entry["name"]}: the subnet says {key} '
                                  f'{entry[key]}, this model has {size}')
        for key, mutable, size in (('kept_heads', mutables.heads, mutables.num_heads),
                                   ('kept_qk_dims', mutables.qk_dims, mutables.head_dims),
                                   ('kept_v_dims', mutables.v_dims, mutables.head_dims)):
            kept = entry[key]
            if not kept or any(not 0 <= k < size for k in kept):
                raise SubnetError(f'attention {entry["name"]}: "{key}" must be a non-empty '
                                  f'list of indices in [0, {size - 1}], got {kept[:5]}')
            mutable.set_kept(kept)
            mutable.freeze()
