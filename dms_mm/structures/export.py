"""Export a searched DMS model: ``subnet.json`` and the static ``pruned.pth``."""
import contextlib
import json
import math
import os
import os.path as osp
from typing import Dict, Optional, Tuple, Union

import torch
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.logging import print_log
from torch import nn

from dms_mm.resources.functional_ops import EXTRA_FLOP_HANDLES
from dms_mm.utils.demo_inputs import demo_inputs

from .static import to_static
from .subnet import build_subnet, to_plain

SUBNET_FILE = 'subnet.json'
PRUNED_FILE = 'pruned.pth'


def count_static(model: nn.Module, input_shape) -> Tuple[float, float]:
    """FLOPs and params of a plain model, by mmengine's counter (not ours),
    given counts of the ops it misses (``F.scaled_dot_product_attention``,
    convolutions with ``padding='same'``:
    :data:`~dms_mm.resources.functional_ops.EXTRA_FLOP_HANDLES`)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    inputs = (demo_inputs(model, input_shape, device), )
    try:
        analyzer = FlopAnalyzer(model, inputs)
        analyzer.set_op_handle(**EXTRA_FLOP_HANDLES)
        analyzer.unsupported_ops_warnings(False)
        analyzer.uncalled_modules_warnings(False)
        flops = float(analyzer.total())
    finally:
        model.train(was_training)
    return flops, float(parameter_count(model)[''])


@contextlib.contextmanager
def everything_kept(mutator):
    """Inside: every mutable keeps all of its elements; restored after."""
    saved = [(m, m.keep_ratio.detach().clone(), m.frozen) for m in mutator.dms_mutables()]
    with torch.no_grad():
        for mutable, _, _ in saved:
            mutable.keep_ratio.fill_(1.0)
            mutable.frozen = False
    try:
        yield
    finally:
        with torch.no_grad():
            for mutable, ratio, frozen in saved:
                mutable.keep_ratio.copy_(ratio)
                mutable.frozen = frozen


def _searched_mutables(mutator):
    units = [u.mutable_channel for u in mutator.units if u.name not in mutator.excluded_units]
    # all but dims that are never searched (frozen without a gradient from the start)
    attention = [m for a in mutator.attentions for m in a.mutables()
                 if m.keep_ratio.requires_grad or not m.frozen]
    return units + list(mutator.stages) + attention


@torch.no_grad()
def round_widths(mutator, divisor: int) -> None:
    """Round every searched unit's kept width to a multiple of ``divisor``
    (at least ``divisor``, at most the unit's width), keeping the most
    important channels."""
    if divisor < 1:
        raise ValueError(f'divisor must be >= 1, got {divisor}')
    for unit in mutator.searchable_units:
        mutable = unit.mutable_channel
        channels = mutable.num_kept * mutable.group_size
        rounded = max(divisor, int(math.floor(channels / divisor + 0.5)) * divisor)
        rounded = min(rounded, unit.num_channels)
        mutable.set_keep_count(min(mutable.num_elements,
                                   int(math.ceil(rounded / mutable.group_size))))


def resolve_divisor(mutator, divisor: Union[int, str]) -> int:
    """``divisor`` as a number: ``'table'`` is the divisor whose multiples
    the mutator's latency table measured as fastest
    (:attr:`~dms_mm.resources.LatencyTable.preferred_divisor`).

    Raises:
        ValueError: For ``'table'`` without a latency table, or with one
            that did not measure it; for anything else that is not a
            positive integer.
    """
    if divisor == 'table':
        latency = getattr(mutator, 'latency', None)
        if latency is None:
            raise ValueError("divisor='table' rounds to the widths a latency table prefers, but "
                             'the search has no latency_table')
        return latency.table.measured_divisor("divisor='table'")
    if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < 1:
        raise ValueError(f"divisor must be a positive integer or 'table', got {divisor!r}")
    return divisor


def _bisect_scale(mutator, mutables: list, target_ratio: float, kind: str,
                  steps: int) -> float:
    """Multiply the keep ratios of ``mutables`` by the largest ``s`` whose
    hard ``kind`` ratio is at most ``target_ratio`` (bisection); return the
    ratio reached. Raises ValueError, with nothing changed, if ``s = 0`` is
    already above the target."""
    original = [m.keep_ratio.item() for m in mutables]
    supernet = mutator.supernet_resource(kind)

    def ratio_at(scale: float) -> float:
        for mutable, keep in zip(mutables, original):
            mutable.keep_ratio.fill_(keep * scale)
        mutator.clamp_()
        return float(mutator.soft_resources()[kind]) / supernet

    smallest = ratio_at(0.0)
    if smallest > target_ratio:
        for mutable, keep in zip(mutables, original):
            mutable.keep_ratio.fill_(keep)
        raise ValueError(
            f'scale_to_target: the {kind} target ratio {target_ratio:.4f} cannot be reached; '
            f'the smallest structure the keep bounds (min_keep, one channel per unit) allow '
            f'is at {smallest:.4f}')
    low, high = 0.0, max(1.0 / max(k, 1e-6) for k in original)
    if ratio_at(high) <= target_ratio:
        return ratio_at(high)
    for _ in range(steps):
        mid = (low + high) / 2
        if ratio_at(mid) <= target_ratio:
            low = mid
        else:
            high = mid
    return ratio_at(low)


@torch.no_grad()
def scale_to_target(mutator, target_ratio: float, kind: str = 'flops',
                    steps: int = 40, mutables: Optional[list] = None,
                    round_up: bool = True) -> float:
    """Scale every searched keep ratio by one multiplier ``s`` so that the
    hard resource ratio lands on the target: the largest ``s`` whose ratio is
    at most ``target_ratio``, found by bisection in ``steps`` steps.

    A block switches on or off as a whole, so one factor for widths and depth
    together can stop well under the target (where its next step would add a
    block). With the default ``mutables``, the widths (channel units and
    attention dims) are then scaled once more by a second common factor, the
    depth held, and the widths that this factor rounds down get one more
    element where the target allows (:func:`round_up_widths`): one factor
    moves every width at once, so an expensive width at its rounding edge
    would stop it. Every width stays within one element of its scaled ratio.

    ``mutables`` limits the scaling to those (e.g. the channel units alone,
    with the depth held), in one pass; by default every searched mutable
    scales. ``round_up=False`` leaves out the last step (the widths then keep
    one common factor).

    Returns:
        float: The ratio reached.

    Raises:
        ValueError: If even the smallest structure the bounds allow is above
            the target. The keep ratios are then left as they were.
    """
    if mutables is not None:
        return _bisect_scale(mutator, list(mutables), target_ratio, kind, steps)
    searched = _searched_mutables(mutator)
    reached = _bisect_scale(mutator, searched, target_ratio, kind, steps)
    stages = {id(stage) for stage in mutator.stages}
    widths = [m for m in searched if id(m) not in stages]
    if widths and len(widths) < len(searched):
        reached = _bisect_scale(mutator, widths, target_ratio, kind, steps)
    if widths and round_up:
        reached = round_up_widths(mutator, target_ratio, kind, widths)
    return reached


@torch.no_grad()
def round_up_widths(mutator, target_ratio: float, kind: str = 'flops',
                    mutables: Optional[list] = None) -> float:
    """Give every width that its keep ratio rounds down one more element, the
    one rounded down furthest first, while the hard ``kind`` ratio stays at
    most ``target_ratio``; each keeps within one element of its ratio.

    Args:
        mutator (DMSMutator): The prepared mutator.
        target_ratio (float): The resource ratio not to exceed.
        kind (str): ``'flops'``, ``'params'`` or ``'latency'`` (with a
            latency table). Defaults to ``'flops'``.
        mutables (list, optional): The widths; by default every searched
            mutable but the stages.

    Returns:
        float: The ratio reached.
    """
    if mutables is None:
        stages = {id(stage) for stage in mutator.stages}
        mutables = [m for m in _searched_mutables(mutator) if id(m) not in stages]
    supernet = mutator.supernet_resource(kind)

    def ratio() -> float:
        return float(mutator.soft_resources()[kind]) / supernet

    wanted = [(m, float(m.keep_ratio) * m.num_elements) for m in mutables]
    reached = ratio()
    for mutable, want in sorted(wanted, key=lambda pair: pair[1] - pair[0].num_kept,
                                reverse=True):
        kept = mutable.num_kept
        if kept >= mutable.num_elements or want <= kept:
            continue
        mutable.set_keep_count(kept + 1)
        now = ratio()
        if now <= target_ratio:
            reached = now
        else:
            mutable.set_keep_count(kept)
    return reached


def write_export(out_dir: str, subnet: Dict, static: nn.Module) -> Tuple[str, str]:
    """Write ``subnet.json`` and the static model's ``pruned.pth`` to ``out_dir``
    (each through a temporary file, so a reader never sees half of one).

    Args:
        out_dir (str): The folder (created if missing).
        subnet (dict): The subnet; its ``resources`` hold ``static_flops``
            and ``static_params``.
        static (nn.Module): The static model whose weights go to ``pruned.pth``.

    Returns:
        tuple: The paths of ``subnet.json`` and ``pruned.pth``.
    """
    os.makedirs(out_dir, exist_ok=True)
    subnet_path, pruned_path = osp.join(out_dir, SUBNET_FILE), osp.join(out_dir, PRUNED_FILE)
    with open(subnet_path + '.tmp', 'w', encoding='utf-8') as f:
        json.dump(to_plain(subnet), f, indent=2)
    os.replace(subnet_path + '.tmp', subnet_path)
    res = subnet['resources']
    torch.save(dict(state_dict={k: v.detach().cpu() for k, v in static.state_dict().items()},
                    meta=dict(dms_subnet=SUBNET_FILE, static_flops=res['static_flops'],
                              static_params=res['static_params'])),
               pruned_path + '.tmp')
    os.replace(pruned_path + '.tmp', pruned_path)
    return subnet_path, pruned_path


def export_subnet(algorithm, out_dir: str, model_cfg: Optional[Dict] = None,
                  divisor: Union[int, str] = 1, scale: bool = False, logger='current') -> Dict:
    """Write ``subnet.json`` and ``pruned.pth`` of a searched DMSAlgorithm.

    Args:
        algorithm (DMSAlgorithm): The searched algorithm.
        out_dir (str): The folder to write to (created if missing).
        model_cfg (dict, optional): The architecture config, stored in the
            subnet file so that it can be rebuilt.
        divisor (int | str): Round kept widths to multiples of it, or of the
            divisor the latency table prefers (``'table'``, see
            :func:`resolve_divisor`). Defaults to 1.
        scale (bool): Land the exported ratio on the target with
            :func:`scale_to_target`. Defaults to False.

    Returns:
        dict: The subnet dict, with the independent counts of the static
        model under ``resources``.
    """
    mutator = algorithm.mutator
    divisor = resolve_divisor(mutator, divisor)
    mutator.clamp_()
    if scale:
        reached = scale_to_target(mutator, algorithm.final_target_ratio, algorithm.target_kind)
        print_log(f'DMS export: scaled to {algorithm.target_kind} ratio {reached:.4f} '
                  f'(target {algorithm.final_target_ratio:.4f})', logger=logger)
    if divisor > 1:
        round_widths(mutator, divisor)
        print_log(f'DMS export: kept widths rounded to multiples of {divisor}', logger=logger)
    subnet = build_subnet(mutator, model_cfg, algorithm.final_target_ratio)
    subnet['mutator'] = dict(parse_cfg=to_plain(mutator.parse_cfg),
                             depth=to_plain(mutator.depth_cfg),
                             attention=to_plain(mutator.attention_cfg))
    if getattr(algorithm, 'expansion', None) is not None:
        # the supernet was grown from the architecture config: the retrain grows it again
        subnet['expand'] = algorithm.expansion.to_dict()
    architecture = algorithm.architecture
    # the supernet as a static model with everything kept, so that both counts see
    # the same modules (e.g. explicit attention matmuls, which mmengine does not
    # count inside torch's fused attention)
    with everything_kept(mutator):
        supernet_flops, supernet_params = count_static(to_static(architecture, mutator),
                                                       mutator.demo_input_shape)
    static = to_static(architecture, mutator)
    flops, params = count_static(static, mutator.demo_input_shape)
    res = subnet['resources']
    res.update(static_flops=flops, static_params=params, counted_supernet_flops=supernet_flops,
               counted_supernet_params=supernet_params)

    write_export(out_dir, subnet, static)
    kind = getattr(algorithm, 'target_kind', 'flops')
    ratio = params / supernet_params if kind == 'params' else flops / supernet_flops
    kind_name = 'params' if kind == 'params' else 'FLOPs'
    print_log(
        f'DMS export to {out_dir}: counted by mmengine, supernet {supernet_flops / 1e6:.3f} '
        f'MFLOPs / {supernet_params / 1e6:.4f} M params, static model {flops / 1e6:.3f} MFLOPs / '
        f'{params / 1e6:.4f} M params ({kind_name} ratio {ratio:.4f}, target '
        f'{algorithm.final_target_ratio:.4f}); DMS soft count {res["soft_flops"] / 1e6:.3f} '
        f'MFLOPs / {res["soft_params"] / 1e6:.4f} M', logger=logger)
    return subnet


def architecture_config(cfg) -> Optional[Dict]:
    """The architecture config inside a DMS model config, if any."""
    model = cfg.get('model', None) if hasattr(cfg, 'get') else None
    if model is None:
        return None
    return model.get('architecture', None)

