"""The Torch-Pruning peer baseline: prune a trained supernet with Torch-Pruning
to a FLOPs target and write the result as a dms_mm subnet.

    python benchmarks/tp_prune.py SEARCH_CONFIG SUPERNET_CKPT --target 0.5 --out-dir DIR \\
        [--importance taylor|l2] [--seed 0]

SEARCH_CONFIG is a DMS search config (its ``model.architecture`` is the
model, its ``model.mutator`` the channel analysis, its ``train_dataloader``
the data); SUPERNET_CKPT a checkpoint of the plain architecture. DIR gets
``subnet.json`` and ``pruned.pth`` in the layout of
:func:`dms_mm.structures.export.export_subnet`, so that the retrain config
finetunes the pruned model exactly as it finetunes a DMS result
(``model.subnet=DIR/subnet.json model.checkpoint=DIR/pruned.pth``).

The recipe is Torch-Pruning's own (its README and ``reproduce/`` scripts):
``BasePruner`` with a group-level importance (``GroupTaylorImportance`` from
the gradients of the model's loss on a few training batches, re-estimated at
every iterative step, or ``GroupMagnitudeImportance(p=2)``), global ranking,
``max_pruning_ratio`` 0.9, the classifier ignored, five iterative steps. Its
channel ``pruning_ratio`` is found by a bracketing search (interpolation,
else bisection; each try prunes a fresh copy of the trained model) so that
mmengine's FLOPs count of the pruned model lands within 1 % of the target,
at or just below it when it can. Torch-Pruning's FLOPs do not fall steadily
with its ratio (the global ranking is re-estimated at every iterative step,
so one ratio may prune more than a larger one); when no try lands within
1 %, the closest try within 2 % is taken, the tolerance within which the
comparison holds all methods, and the log says so.
Torch-Pruning removes channels, never blocks: every block is kept.

The kept output channels of every layer are tracked through Torch-Pruning's
interactive steps and mapped onto dms_mm's channel units. The script checks
that the static model built from the subnet (``to_static`` on the trained
supernet, and ``DMSSubModel`` loading ``pruned.pth``) gives Torch-Pruning's
outputs and FLOPs.
"""
import argparse
import copy
import json
import os.path as osp
import sys
import time
import warnings
from importlib.metadata import version
from typing import Dict, List, Optional, Sequence, Tuple

# mmengine imports pkg_resources (setuptools<81 is pinned for the mmcv build)
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import torch
import torch_pruning as tp
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint
from mmrazor.registry import MODELS
from torch import nn

import dms_mm  # noqa: F401  (registers DMSSubModel, the datasets; compat fixes)
from benchmarks.subnets import build_architecture
from dms_mm.mutators import DMSMutator
from dms_mm.structures import apply_subnet, build_subnet, to_static
from dms_mm.structures.export import count_static, write_export
from dms_mm.structures.subnet import to_plain

#: Torch-Pruning settings of the baseline (recorded in the subnet's ``method``)
GLOBAL_PRUNING = True
MAX_PRUNING_RATIO = 0.9
ITERATIVE_STEPS = 5
TAYLOR_BATCHES = 4
#: FLOPs tolerance around the target, the wider one taken when no try is within it
#: (the comparison's: all methods within 2 % of each other), and the most tries
TOLERANCE = 0.01
FALLBACK_TOLERANCE = 0.02
MAX_TRIES = 20
#: the largest relative output difference the checks accept
OUTPUT_TOLERANCE = 1e-4
IMPORTANCES = ('taylor', 'l2')

_TRACKED = (nn.modules.conv._ConvNd, nn.Linear, nn.modules.batchnorm._BatchNorm)


def _log(msg: str) -> None:
    print_log(f'tp_prune: {msg}', logger='current')


def _out_size(module: nn.Module) -> int:
    if isinstance(module, nn.modules.conv._ConvNd):
        return module.out_channels
    if isinstance(module, nn.Linear):
        return module.out_features
    return module.num_features


def build_supernet(cfg: Config, checkpoint: Optional[str]) -> nn.Module:
    """The plain architecture of a DMS search config, with trained weights.

    Args:
        cfg (Config): The DMS search config.
        checkpoint (str, optional): A checkpoint of the plain architecture
            (keys such as ``backbone.layers.0.0.conv.weight``), loaded
            strictly. None keeps the initial weights.

    Returns:
        nn.Module: The model, in eval mode.
    """
    model = build_architecture(cfg)
    if checkpoint is None:
        model.init_weights()
    else:
        ckpt = _load_checkpoint(checkpoint, map_location='cpu')
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
        if not isinstance(state, dict):
            raise ValueError(f'{checkpoint}: holds no state_dict')
        state = {k[len('module.'):] if k.startswith('module.') else k: v
                 for k, v in state.items()}
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ValueError(f'{checkpoint} is not a checkpoint of the architecture in '
                             f'model.architecture: {e}') from None
    return model.eval()


def build_mutator(cfg: Config) -> DMSMutator:
    """A DMSMutator as :class:`DMSSubModel` builds it from the subnet file.

    Args:
        cfg (Config): The DMS search config (``model.mutator``).

    Returns:
        DMSMutator: Not yet prepared.
    """
    mutator_cfg = cfg.model.get('mutator', None) or {}
    parse_cfg = dict(mutator_cfg.get('parse_cfg') or dict(type='ChannelAnalyzer'))
    depth = dict(mutator_cfg.get('depth') or {})
    depth['exclude'] = tuple(depth.get('exclude', ()))
    attention = dict(mutator_cfg.get('attention') or {})
    return DMSMutator(parse_cfg=parse_cfg, depth=depth, attention=attention)


def training_batches(cfg: Config, model: nn.Module, num: int,
                     seed: int) -> List[Tuple[torch.Tensor, list]]:
    """The first ``num`` batches of the config's train dataloader, through the
    model's data preprocessor (without batch augments).

    Args:
        cfg (Config): The config (``train_dataloader``).
        model (nn.Module): The model whose ``data_preprocessor`` is used.
        num (int): The number of batches.
        seed (int): The sampler's seed.

    Returns:
        list[tuple]: ``(inputs, data_samples)`` per batch.
    """
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        loader = Runner.build_dataloader(copy.deepcopy(cfg.train_dataloader), seed=seed)
        batches = []
        for data in loader:
            data = model.data_preprocessor(data, training=False)
            batches.append((data['inputs'], data['data_samples']))
            if len(batches) == num:
                break
    return batches


def _classifier_layers(model: nn.Module) -> List[nn.Module]:
    """The layers that produce the model's outputs: those of its head."""
    head = getattr(model, 'head', None)
    if head is None:
        raise ValueError(f'tp_prune: {type(model).__name__} has no `head`; cannot tell which '
                         'classifier Torch-Pruning must leave alone')
    layers = [m for m in head.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]
    if not layers:
        raise ValueError('tp_prune: the model head holds no Linear or Conv layer')
    return layers


def _importance(name: str):
    if name == 'taylor':
        return tp.importance.GroupTaylorImportance()
    if name == 'l2':
        return tp.importance.GroupMagnitudeImportance(p=2)
    raise ValueError(f'importance must be one of {IMPORTANCES}, got {name!r}')


def run_torch_pruning(supernet: nn.Module, pruning_ratio: float, importance: str,
                      batches: Sequence, example_inputs: torch.Tensor
                      ) -> Tuple[nn.Module, Dict[str, List[int]]]:
    """Prune a copy of ``supernet`` with Torch-Pruning at one pruning ratio.

    Args:
        supernet (nn.Module): The trained model (left unchanged).
        pruning_ratio (float): Torch-Pruning's channel pruning ratio.
        importance (str): ``'taylor'`` or ``'l2'``.
        batches (Sequence): ``(inputs, data_samples)`` for the Taylor
            gradients.
        example_inputs (torch.Tensor): The input that Torch-Pruning traces.

    Returns:
        tuple: The pruned model (eval mode), and, per conv, linear and norm
        layer name, the original indices of its surviving output channels.
    """
    model = copy.deepcopy(supernet).eval()
    names = {module: name for name, module in model.named_modules()}
    alive = {name: list(range(_out_size(m))) for name, m in model.named_modules()
             if isinstance(m, _TRACKED)}
    pruner = tp.pruner.BasePruner(
        model, example_inputs, importance=_importance(importance),
        global_pruning=GLOBAL_PRUNING, pruning_ratio=pruning_ratio,
        max_pruning_ratio=MAX_PRUNING_RATIO, iterative_steps=ITERATIVE_STEPS,
        ignored_layers=_classifier_layers(model))
    graph = pruner.DG
    for _ in range(ITERATIVE_STEPS):
        if importance == 'taylor':
            # the gradients of the model's own loss, at the current (pruned) width;
            # eval mode leaves the weights and norm statistics as they were trained
            model.zero_grad(set_to_none=True)
            for inputs, data_samples in batches:
                with torch.enable_grad():
                    loss, _ = model.parse_losses(model(inputs, data_samples, mode='loss'))
                    loss.backward()
        for group in pruner.step(interactive=True):
            removed: Dict[str, set] = {}
            for dep, idxs in group:
                name = names.get(dep.target.module)
                if name in alive and graph.is_out_channel_pruning_fn(dep.handler):
                    # positions in the layer as it is now, not in the original layer
                    # (Torch-Pruning's indices carry the root's index beside them)
                    removed.setdefault(name, set()).update(getattr(i, 'idx', i) for i in idxs)
            group.prune()
            for name, gone in removed.items():
                alive[name] = [c for i, c in enumerate(alive[name]) if i not in gone]
    model.zero_grad(set_to_none=True)
    for name, module in model.named_modules():
        if name in alive and len(alive[name]) != _out_size(module):
            raise RuntimeError(f'tp_prune: lost track of the channels of {name}: '
                               f'{len(alive[name])} tracked, {_out_size(module)} in the model')
    return model.eval(), alive


def search_pruning_ratio(supernet: nn.Module, supernet_flops: float, target: float,
                         importance: str, batches: Sequence,
                         input_shape: Sequence[int]) -> Dict:
    """Find Torch-Pruning's ``pruning_ratio`` whose pruned model lands on a
    FLOPs target (mmengine's count), within :data:`TOLERANCE`, at or just
    below the target when it can; else the closest try within
    :data:`FALLBACK_TOLERANCE`.

    A bracketing search: every try prunes a fresh copy of the trained model.
    The square root of the FLOPs ratio falls about linearly with the channel
    pruning ratio (both the input and output channels of a layer go), so the
    next try interpolates it linearly between the closest tries above and
    below the target (regula falsi), and bisects the bracket when the
    interpolation stalls at one end.

    Args:
        supernet (nn.Module): The trained model.
        supernet_flops (float): Its FLOPs.
        target (float): The FLOPs target, as a fraction of ``supernet_flops``.
        importance (str): ``'taylor'`` or ``'l2'``.
        batches (Sequence): Batches for the Taylor gradients.
        input_shape (Sequence[int]): The input the FLOPs are counted at.

    Returns:
        dict: ``ratio``, ``model``, ``alive``, ``flops``, ``params`` of the
        try chosen, and ``tries``: ``[ratio, flops]`` of every try.

    Raises:
        ValueError: When no pruning ratio up to :data:`MAX_PRUNING_RATIO`
            reaches the target within :data:`FALLBACK_TOLERANCE`.
    """
    example_inputs = torch.randn(tuple(input_shape))
    target_flops = target * supernet_flops
    tries, results = [], []

    def attempt(ratio: float) -> float:
        start = time.time()
        model, alive = run_torch_pruning(supernet, ratio, importance, batches, example_inputs)
        flops, params = count_static(model, input_shape)
        tries.append([ratio, flops])
        _log(f'try {len(tries)}: pruning_ratio {ratio:.5f} -> FLOPs ratio '
             f'{flops / supernet_flops:.4f} (target {target}), {time.time() - start:.1f} s')
        if abs(flops / target_flops - 1) <= FALLBACK_TOLERANCE:
            results.append(dict(ratio=ratio, model=model, alive=alive, flops=flops,
                                params=params))
        return flops

    goal = target * (1 - TOLERANCE / 2)  # the middle of the accepted band

    def distance(flops: float) -> float:
        # about linear in the pruning ratio; positive above the goal
        return (flops / supernet_flops) ** 0.5 - goal ** 0.5

    above = [(0.0, distance(supernet_flops))]  # the unpruned model, then tries above
    below = None
    ratio = min(1 - goal ** 0.5, MAX_PRUNING_RATIO)  # the first guess
    while len(tries) < MAX_TRIES:
        flops = attempt(ratio)
        if any(1 - TOLERANCE <= r['flops'] / target_flops <= 1 for r in results):
            break
        if flops > goal * supernet_flops:
            above.append((ratio, distance(flops)))
        else:
            below = (ratio, distance(flops))
        if below is None:
            if ratio >= MAX_PRUNING_RATIO:
                raise ValueError(
                    f'tp_prune: the FLOPs target {target} cannot be reached: Torch-Pruning at '
                    f'its largest pruning_ratio {MAX_PRUNING_RATIO} (max_pruning_ratio) leaves '
                    f'a FLOPs ratio of {flops / supernet_flops:.4f}')
            # extrapolate along the secant of the last two points above the goal
            (r0, d0), (r1, d1) = above[-2:]
            step = d1 * (r1 - r0) / (d0 - d1) if d0 > d1 else MAX_PRUNING_RATIO
            ratio = min(MAX_PRUNING_RATIO, r1 + min(max(step, 1e-3), 0.2))
            continue
        (low, d_low), (high, d_high) = above[-1], below
        if abs(high - low) < 1e-6:
            break
        ratio = low + (high - low) * d_low / (d_low - d_high)
        # keep clear of the ends of the bracket (a stalled interpolation): bisect
        if not min(low, high) + 0.1 * abs(high - low) <= ratio <= \
                max(low, high) - 0.1 * abs(high - low):
            ratio = (low + high) / 2
    within = [r for r in results if abs(r['flops'] / target_flops - 1) <= TOLERANCE]
    if not results:
        raise ValueError(f'tp_prune: no pruning_ratio reached the FLOPs target {target} within '
                         f'{FALLBACK_TOLERANCE:.0%} in {len(tries)} tries (ratio, FLOPs): '
                         f'{tries}')
    if within:  # at or below the target first, then the closest
        best = min(within, key=lambda r: (r['flops'] > target_flops,
                                          abs(r['flops'] - target_flops)))
    else:
        best = min(results, key=lambda r: (abs(r['flops'] - target_flops),
                                           r['flops'] > target_flops))
        _log(f'no try within {TOLERANCE:.0%} of the FLOPs target {target}; taking the '
             f'closest within {FALLBACK_TOLERANCE:.0%}: FLOPs ratio '
             f'{best["flops"] / supernet_flops:.4f}')
    best['tries'] = tries
    return best


def kept_per_unit(mutator: DMSMutator, alive: Dict[str, List[int]]) -> Dict[str, List[int]]:
    """The kept channels of every dms_mm unit, from Torch-Pruning's layers.

    Args:
        mutator (DMSMutator): A prepared mutator.
        alive (dict): Per layer name, its surviving output channels.

    Returns:
        dict: Per unit name, its kept channel indices (sorted).

    Raises:
        RuntimeError: When the layers of one unit kept different channels
            (Torch-Pruning coupled them differently from dms_mm), or a unit
            has no layer whose channels were tracked.
    """
    kept = {}
    for unit in mutator.units:
        views = {}
        for channel in unit.output_related:
            if channel.name not in alive:
                continue
            views[channel.name] = [c - channel.start for c in alive[channel.name]
                                   if channel.start <= c < channel.end]
        if not views:
            raise RuntimeError(f'tp_prune: unit {unit.name} has no conv, linear or norm layer '
                               'among its producers; cannot map Torch-Pruning onto it')
        distinct = {tuple(v) for v in views.values()}
        if len(distinct) > 1:
            counts = {name: len(v) for name, v in views.items()}
            raise RuntimeError(
                f'tp_prune: Torch-Pruning kept different channels in the layers of dms_mm unit '
                f'{unit.name} (kept counts per layer: {counts}); it couples these layers '
                'differently from dms_mm\'s channel analysis')
        kept[unit.name] = sorted(distinct.pop())
        if not kept[unit.name]:
            raise RuntimeError(f'tp_prune: Torch-Pruning removed every channel of {unit.name}')
    return kept


def _relative_difference(outputs: List[torch.Tensor], references: List[torch.Tensor]) -> float:
    """The largest difference between matching tensors, relative to the
    largest magnitude of the reference; inf when their shapes differ."""
    worst = 0.0
    for output, reference in zip(outputs, references):
        if output.shape != reference.shape:
            return float('inf')
        scale = reference.abs().max().clamp_min(1e-12)
        worst = max(worst, float((output - reference).abs().max() / scale))
    return worst


def _different_tensors(model: nn.Module, reference: nn.Module) -> List[str]:
    """Names of the state tensors whose shape or values differ between two
    models with the same state keys. When the keys differ, only the outputs
    can be compared: it says so and returns none."""
    state, expected = model.state_dict(), reference.state_dict()
    if set(state) != set(expected):
        _log('the static model and Torch-Pruning\'s have different state keys; only their '
             'outputs and FLOPs are compared')
        return []
    # mmrazor's static norm layers restart their num_batches_tracked count (it only
    # matters to a norm layer without momentum); every other tensor must be equal
    return [k for k, v in state.items() if not k.endswith('num_batches_tracked') and (
        v.shape != expected[k].shape or not torch.equal(v, expected[k]))]


@torch.no_grad()
def _outputs(model: nn.Module, inputs: torch.Tensor) -> List[torch.Tensor]:
    """The model's outputs (eval mode) and, more sensitive to a wrong channel
    mapping, the features its head gets."""
    model.eval()
    outputs = [model(inputs)]
    if hasattr(model, 'extract_feat'):
        outputs += list(model.extract_feat(inputs))
    return outputs


def tp_prune(config_path: str, checkpoint: Optional[str], target: float, out_dir: str,
             importance: str = 'taylor', seed: int = 0) -> Dict:
    """Prune a trained supernet with Torch-Pruning to a FLOPs target and write
    ``subnet.json`` and ``pruned.pth`` to ``out_dir``.

    Args:
        config_path (str): A DMS search config.
        checkpoint (str, optional): The trained supernet's checkpoint (the
            plain architecture, as mmengine saves it). None prunes the
            initial weights (for tests).
        target (float): The FLOPs target, as a fraction of the supernet's.
        out_dir (str): The folder to write to (created if missing).
        importance (str): ``'taylor'`` (GroupTaylorImportance) or ``'l2'``
            (GroupMagnitudeImportance, p=2). Defaults to ``'taylor'``.
        seed (int): Seed of torch and of the data sampler. Defaults to 0.

    Returns:
        dict: The subnet dict written to ``subnet.json``.

    Raises:
        ValueError: On a bad target, importance or checkpoint, or a target
            Torch-Pruning cannot reach.
        RuntimeError: When a check of the mapping onto dms_mm fails.
    """
    if not 0 < target < 1:
        raise ValueError(f'target must be in (0, 1), got {target}')
    if importance not in IMPORTANCES:
        raise ValueError(f'importance must be one of {IMPORTANCES}, got {importance!r}')
    start = time.time()
    torch.manual_seed(seed)
    cfg = Config.fromfile(config_path)
    architecture = to_plain(cfg.model.architecture)
    supernet = build_supernet(cfg, checkpoint)
    mutator = build_mutator(cfg)
    input_shape = mutator.demo_input_shape
    supernet_flops, supernet_params = count_static(supernet, input_shape)
    target_flops = target * supernet_flops
    batches = training_batches(cfg, supernet, TAYLOR_BATCHES if importance == 'taylor' else 1,
                               seed)
    _log(f'supernet {supernet_flops / 1e6:.4f} MFLOPs at {tuple(input_shape)}; target '
         f'{target} -> {target_flops / 1e6:.4f} MFLOPs; importance {importance}')

    found = search_pruning_ratio(supernet, supernet_flops, target, importance, batches,
                                 input_shape)
    tp_model, flops = found['model'], found['flops']
    _log(f'pruning_ratio {found["ratio"]:.5f}: FLOPs ratio {flops / supernet_flops:.4f} '
         f'after {len(found["tries"])} tries')

    # the same structure in dms_mm's terms, on a fresh copy of the trained supernet
    searched = copy.deepcopy(supernet)
    mutator.prepare_from_supernet(searched)
    subnet = build_subnet(mutator, architecture, target)  # everything kept
    kept = kept_per_unit(mutator, found['alive'])
    for entry in subnet['units']:
        entry['kept'] = kept[entry['name']]
    for entry in subnet['stages']:
        entry['kept_blocks'] = list(range(entry['num_blocks']))
    apply_subnet(mutator, subnet)
    subnet = build_subnet(mutator, architecture, target)
    for entry in subnet['units']:
        if entry['kept'] != kept[entry['name']]:
            raise RuntimeError(f'tp_prune: unit {entry["name"]} did not take the kept channels')
    subnet['mutator'] = dict(parse_cfg=to_plain(mutator.parse_cfg),
                             depth=to_plain(mutator.depth_cfg),
                             attention=to_plain(mutator.attention_cfg))
    with torch.no_grad():
        static = to_static(searched, mutator).eval()
    static_flops, static_params = count_static(static, input_shape)

    # the check: our static model is Torch-Pruning's model (outputs, FLOPs, weights)
    inputs = batches[0][0]
    reference = _outputs(tp_model, inputs)
    difference = _relative_difference(_outputs(static, inputs), reference)
    different = _different_tensors(static, tp_model)
    if difference > OUTPUT_TOLERANCE or static_flops != flops or different:
        raise RuntimeError(
            f'tp_prune: the dms_mm subnet is not the model Torch-Pruning pruned: relative '
            f'output difference {difference:.3g} (tolerance {OUTPUT_TOLERANCE}), FLOPs '
            f'{static_flops:.0f} (dms_mm) against {flops:.0f} (Torch-Pruning), '
            f'{len(different)} weights differ (e.g. {different[:3]})')

    res = subnet['resources']
    res.update(static_flops=static_flops, static_params=static_params,
               counted_supernet_flops=supernet_flops, counted_supernet_params=supernet_params,
               target_ratio=target, reached_ratio=static_flops / supernet_flops)
    res['method'] = dict(
        name='torch-pruning', version=version('torch-pruning'), pruner='BasePruner',
        importance=('GroupTaylorImportance' if importance == 'taylor' else
                    'GroupMagnitudeImportance(p=2)'),
        taylor_batches=TAYLOR_BATCHES if importance == 'taylor' else 0,
        batch_size=int(inputs.shape[0]), global_pruning=GLOBAL_PRUNING, isomorphic=False,
        max_pruning_ratio=MAX_PRUNING_RATIO, iterative_steps=ITERATIVE_STEPS, round_to=None,
        ignored_layers=[name for name, m in supernet.named_modules()
                        if any(m is layer for layer in _classifier_layers(supernet))],
        pruning_ratio=found['ratio'], tries=found['tries'],
        output_difference=difference, seed=seed, seconds=time.time() - start)

    subnet_path, pruned_path = write_export(out_dir, subnet, static)

    # the check the retraining relies on: DMSSubModel rebuilds the same model
    with DefaultScope.overwrite_default_scope('mmrazor'):
        sub_model = MODELS.build(dict(type='DMSSubModel', architecture=architecture,
                                      subnet=subnet_path, checkpoint=pruned_path))
    sub_difference = _relative_difference(_outputs(sub_model, inputs), reference)
    if sub_difference > OUTPUT_TOLERANCE:
        raise RuntimeError(f'tp_prune: DMSSubModel with {pruned_path} differs from '
                           f'Torch-Pruning\'s model by {sub_difference:.3g} (relative)')
    _log(f'wrote {subnet_path} and {pruned_path}: {static_flops / 1e6:.4f} MFLOPs (ratio '
         f'{static_flops / supernet_flops:.4f}, target {target}), '
         f'{static_params / 1e6:.4f} M params; outputs match Torch-Pruning\'s model '
         f'(relative difference {difference:.2g}, DMSSubModel {sub_difference:.2g}); '
         f'{time.time() - start:.0f} s')
    return subnet


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Prune a trained supernet with Torch-Pruning to a FLOPs target and '
        'write it as a dms_mm subnet (subnet.json, pruned.pth)')
    parser.add_argument('config', help='the DMS search config')
    parser.add_argument('checkpoint', help='the trained supernet checkpoint')
    parser.add_argument('--target', type=float, required=True,
                        help='FLOPs target, a fraction of the supernet\'s')
    parser.add_argument('--out-dir', required=True, help='where subnet.json and pruned.pth go')
    parser.add_argument('--importance', choices=IMPORTANCES, default='taylor')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    subnet = tp_prune(args.config, args.checkpoint, args.target, args.out_dir,
                      importance=args.importance, seed=args.seed)
    res = subnet['resources']
    print(json.dumps(dict(out_dir=args.out_dir, target=args.target,
                          flops_ratio=res['reached_ratio'],
                          pruning_ratio=res['method']['pruning_ratio'],
                          static_flops=res['static_flops'], static_params=res['static_params'],
                          output_difference=res['method']['output_difference'])),
          flush=True)


if __name__ == '__main__':
    main()
