"""Structures for the baselines of the comparison, as dms_mm subnet files.

* :func:`uniform_subnet`: the supernet scaled uniformly: one common factor for
  every channel unit and every stage's removable blocks, then the widths alone
  by a second one (the depth held), so the structure has one width ratio and
  one depth ratio, the first channels and blocks kept; then one more channel
  for the units that rounded down furthest while the FLOPs stay under the
  target (:func:`dms_mm.structures.round_up_widths`): every width is within a
  channel of the common ratio.
* :func:`random_subnet`: a random structure at the same FLOPs, the control every
  search must beat: random keep ratios per unit and per stage, random kept
  channels and blocks, all scaled by one factor onto the target, then the
  widths alone grown up to it (:func:`fill_to_target`).

Both write ``subnet.json`` in the format of :func:`dms_mm.structures.export_subnet`
with mmengine's count of the static model under ``resources``, so the same
retrain config (``type='DMSSubModel'``) trains every structure.
"""
import copy
import json
import os
import os.path as osp
from typing import Callable, Dict, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmrazor.registry import MODELS

import dms_mm  # noqa: F401  (registers the DMS classes, applies the compat fixes)
from dms_mm.mutators import DMSMutator
from dms_mm.structures import build_subnet, round_up_widths, scale_to_target, to_static
from dms_mm.structures.export import count_static
from dms_mm.structures.random_structure import random_elements, randomize_structure  # noqa: F401
from dms_mm.structures.subnet import to_plain


def build_architecture(cfg: Config) -> torch.nn.Module:
    """The plain architecture of a DMS search config (``cfg.model.architecture``),
    with the config's top-level data preprocessor as the runner would hand it."""
    architecture = copy.deepcopy(dict(cfg.model.architecture))
    if cfg.get('data_preprocessor') is not None:
        architecture.setdefault('data_preprocessor', copy.deepcopy(cfg.data_preprocessor))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(architecture)


def prepared_supernet(config_path: str) -> Tuple[torch.nn.Module, DMSMutator, Dict]:
    """The architecture of a DMS search config with its mutator prepared.

    Returns:
        tuple: ``(model, mutator, info)``; ``info`` holds the architecture
        config, the mutator config and mmengine's count of the supernet.
    """
    cfg = Config.fromfile(config_path)
    architecture = dict(cfg.model.architecture)
    model = build_architecture(cfg)
    mutator_cfg = dict(parse_cfg=dict(cfg.model.mutator.parse_cfg),
                       depth=dict(cfg.model.mutator.depth))
    mutator = DMSMutator(**mutator_cfg)
    flops, params = count_static(model, mutator.demo_input_shape)
    mutator.prepare_from_supernet(model)
    return model, mutator, dict(architecture=architecture, mutator=mutator_cfg,
                                counted_supernet_flops=flops, counted_supernet_params=params)


def write_structure(model, mutator, info: Dict, target: float, out_dir: str,
                    method: Dict) -> Dict:
    """Write the mutator's current structure as ``out_dir/subnet.json``.

    Returns:
        dict: The subnet, with mmengine's count of its static model.
    """
    subnet = build_subnet(mutator, info['architecture'], target)
    subnet['mutator'] = to_plain(info['mutator'])
    flops, params = count_static(to_static(model, mutator), mutator.demo_input_shape)
    subnet['resources'].update(static_flops=flops, static_params=params,
                               counted_supernet_flops=info['counted_supernet_flops'],
                               counted_supernet_params=info['counted_supernet_params'],
                               method=method)
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'subnet.json'), 'w', encoding='utf-8') as f:
        json.dump(to_plain(subnet), f, indent=2)
    return subnet


@torch.no_grad()
def fill_to_target(mutator, target: float, generator: torch.Generator,
                   tolerance: float = 0.002) -> float:
    """Grow the widths while the FLOPs stay at most ``target``: first all of
    them by one more common factor with the depth held, then, until the FLOPs
    are within ``tolerance`` (relative) of the target, single channels of
    units drawn at random. A common factor for widths and depth together can
    stop well under the target, where its next step switches a block on.

    Returns:
        float: The FLOPs ratio reached.
    """

    def ratio() -> float:
        return float(mutator.soft_resources()['flops']) / mutator.supernet_flops

    units = [u.mutable_channel for u in mutator.searchable_units]
    reached = scale_to_target(mutator, target, mutables=units)
    grown = True
    while grown and reached < target * (1 - tolerance):
        grown = False
        for index in torch.randperm(len(units), generator=generator).tolist():
            mutable = units[index]
            kept = mutable.num_kept
            if kept >= mutable.num_elements:
                continue
            mutable.set_keep_count(kept + 1)
            now = ratio()
            if now <= target:
                reached, grown = now, True
                if reached >= target * (1 - tolerance):
                    break
            else:
                mutable.set_keep_count(kept)
    return reached


def _scaled_structure(config_path: str, target: float, out_dir: str, method: Dict,
                      initialise: Callable, generator: Optional[torch.Generator] = None) -> Dict:
    model, mutator, info = prepared_supernet(config_path)
    with torch.no_grad():
        for mutable in mutator.dms_mutables():
            initialise(mutable)
    uniform = method['name'] == 'uniform'
    reached = scale_to_target(mutator, target, round_up=not uniform)
    if uniform:
        # the common ratios, before the widths they round down get one element more
        method['keep_ratio'] = mutator.units[0].mutable_channel.current_choice
        method['depth_ratio'] = [stage.keep_ratio.item() for stage in mutator.stages]
        reached = round_up_widths(mutator, target)
    if generator is not None:
        reached = fill_to_target(mutator, target, generator)
    method = dict(method, reached_soft_ratio=reached)
    return write_structure(model, mutator, info, target, out_dir, method)


def uniform_subnet(config_path: str, target: float, out_dir: str) -> Dict:
    """The supernet scaled uniformly in width and depth to the FLOPs target.

    Args:
        config_path (str): A DMS search config (its architecture and mutator).
        target (float): FLOPs ratio of the supernet.
        out_dir (str): Where ``subnet.json`` goes.
    """

    def first_elements(mutable):
        # the same keep ratio everywhere; the first channels and blocks stay
        mutable.importance.copy_(torch.arange(mutable.num_elements, 0, -1).float())
        mutable.keep_ratio.fill_(1.0)

    return _scaled_structure(config_path, target, out_dir, dict(name='uniform'),
                             first_elements)


def random_subnet(config_path: str, target: float, seed: int, out_dir: str,
                  low: float = 0.25) -> Dict:
    """A random structure at the FLOPs target.

    Every unit and stage draws a keep ratio uniformly from ``[low, 1]`` and a
    random order of its elements; one common factor then scales all keep
    ratios onto the target, so the structure differs from uniform scaling
    only by chance.

    Args:
        config_path (str): A DMS search config.
        target (float): FLOPs ratio of the supernet.
        seed (int): The random draw.
        out_dir (str): Where ``subnet.json`` goes.
        low (float): Lowest drawn keep ratio. Defaults to 0.25.
    """
    generator = torch.Generator().manual_seed(seed)
    return _scaled_structure(config_path, target, out_dir,
                             dict(name='random', seed=seed, low=low),
                             random_elements(generator, low), generator)
