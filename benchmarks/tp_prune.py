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

The recipe is Torch-Pruning's own for a FLOPs target (its README and the
``progressive_pruning`` of its ``benchmarks/main.py``): ``BasePruner`` with a
group-level importance (``GroupTaylorImportance`` from the gradients of the
model's loss on one training batch, re-estimated before every step, or
``GroupMagnitudeImportance(p=2)``), global ranking, ``max_pruning_ratio``
0.9, the classifier ignored, ``pruning_ratio`` 1.0 over 400 iterative steps,
stepped until mmengine's FLOPs count of the pruned model reaches the target.
The step that crosses the target is kept when it lands within 1 % of it;
else the closer of it and the step before, within 2 % (the tolerance within
which the comparison holds all methods), and the log says so.
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
#: the iterative steps of the progressive pruning (Torch-Pruning's benchmarks use 400)
PROGRESSIVE_STEPS = 400
#: training batches (of the config's batch size) behind the Taylor gradients of each
#: step; with 4, the gradients took 80 % of the pruning time (about 8 minutes for the
#: glyphs ResNet-18 at 0.25 on a shared core)
TAYLOR_BATCHES = 1
#: FLOPs tolerance around the target, and the wider one taken when the step that
#: crosses the target lands outside it (the comparison's: all methods within 2 %)
TOLERANCE = 0.01
FALLBACK_TOLERANCE = 0.02
#: mmengine's FLOPs count runs every RECOUNT steps, and every step once the
#: estimate from Torch-Pruning's faster count is within NEAR of the target
RECOUNT = 10
NEAR = 0.1
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


def _prune_step(pruner, names: Dict[nn.Module, str], alive: Dict[str, List[int]]) -> None:
    """One iterative step of ``pruner``, with the kept output channels of every
    tracked layer updated in ``alive`` (original indices)."""
    graph = pruner.DG
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


def _taylor_gradients(model: nn.Module, batches: Sequence) -> None:
    """The gradients of the model's own loss at its current (pruned) width;
    eval mode leaves the weights and norm statistics as they were trained."""
    model.zero_grad(set_to_none=True)
    for inputs, data_samples in batches:
        with torch.enable_grad():
            loss, _ = model.parse_losses(model(inputs, data_samples, mode='loss'))
            loss.backward()


def closest_to_target(candidates: Sequence[Dict], target_flops: float) -> Optional[Dict]:
    """The candidate (a dict with ``flops``) to keep: within :data:`TOLERANCE`
    of the target if one is (the one at or below it first), else the closest
    within :data:`FALLBACK_TOLERANCE`, else None."""
    def gap(candidate):
        return abs(candidate['flops'] / target_flops - 1)

    within = [c for c in candidates if gap(c) <= TOLERANCE]
    if within:
        return min(within, key=lambda c: (c['flops'] > target_flops, gap(c)))
    near = [c for c in candidates if gap(c) <= FALLBACK_TOLERANCE]
    return min(near, key=lambda c: (gap(c), c['flops'] > target_flops)) if near else None


def progressive_prune(supernet: nn.Module, supernet_flops: float, target: float,
                      importance: str, batches: Sequence,
                      input_shape: Sequence[int]) -> Dict:
    """Prune a copy of ``supernet`` with Torch-Pruning in small global steps
    until mmengine's FLOPs count reaches the target.

    This is Torch-Pruning's own recipe for a FLOPs (speed-up) target, its
    ``progressive_pruning`` of ``benchmarks/main.py``: one pruner with
    ``pruning_ratio`` 1.0 over :data:`PROGRESSIVE_STEPS` iterative steps,
    stepped until the model is small enough. The Taylor gradients are
    re-estimated before every step. The step that crosses the target and
    the one before it are the candidates (:func:`closest_to_target`).

    Args:
        supernet (nn.Module): The trained model (left unchanged).
        supernet_flops (float): Its FLOPs.
        target (float): The FLOPs target, as a fraction of ``supernet_flops``.
        importance (str): ``'taylor'`` or ``'l2'``.
        batches (Sequence): ``(inputs, data_samples)`` for the Taylor
            gradients.
        input_shape (Sequence[int]): The input the FLOPs are counted at (and
            Torch-Pruning traces).

    Returns:
        dict: ``model`` (eval mode), ``alive`` (per conv, linear and norm
        layer name, the original indices of its surviving output channels),
        ``flops``, ``params``, ``steps`` (iterative steps taken),
        ``pruning_ratio`` (Torch-Pruning's ratio at that step) and ``curve``
        (``[step, flops]`` of the steps counted by mmengine).

    Raises:
        ValueError: When the target cannot be reached within
            :data:`FALLBACK_TOLERANCE` (the last step jumped over it, or
            ``max_pruning_ratio`` stopped the pruning above it).
    """
    model = copy.deepcopy(supernet).eval()
    names = {module: name for name, module in model.named_modules()}
    alive = {name: list(range(_out_size(m))) for name, m in model.named_modules()
             if isinstance(m, _TRACKED)}
    example_inputs = torch.randn(tuple(input_shape))
    fast_supernet = tp.utils.count_ops_and_params(model, example_inputs)[0]
    scale = 1.0
    pruner = tp.pruner.BasePruner(
        model, example_inputs, importance=_importance(importance),
        global_pruning=GLOBAL_PRUNING, pruning_ratio=1.0, max_pruning_ratio=MAX_PRUNING_RATIO,
        iterative_steps=PROGRESSIVE_STEPS, ignored_layers=_classifier_layers(model))
    target_flops = target * supernet_flops
    curve, previous = [], None
    flops = supernet_flops
    for step in range(1, PROGRESSIVE_STEPS + 1):
        if importance == 'taylor':
            _taylor_gradients(model, batches)
        _prune_step(pruner, names, alive)
        # Torch-Pruning's own counter is fast but counts other ops than mmengine's
        # (the comparison's): mmengine counts every RECOUNT steps, and every step once
        # the fast count, scaled by the last ratio of the two, is within NEAR
        fast = tp.utils.count_ops_and_params(model, example_inputs)[0] / fast_supernet
        if step % RECOUNT and scale * fast > target * (1 + NEAR):
            continue
        flops, params = count_static(model, input_shape)
        scale = flops / supernet_flops / fast
        curve.append([step, flops])
        current = dict(flops=flops, params=params, steps=step,
                       pruning_ratio=step / PROGRESSIVE_STEPS)
        if flops <= target_flops * (1 + TOLERANCE):
            break
        if flops <= target_flops * (1 + FALLBACK_TOLERANCE):  # a candidate, if the next
            previous = dict(current, model=copy.deepcopy(model),  # step jumps too far
                            alive=copy.deepcopy(alive))
    else:
        flops, _ = count_static(model, input_shape)
        raise ValueError(
            f'tp_prune: the FLOPs target {target} cannot be reached: after '
            f'{PROGRESSIVE_STEPS} steps (max_pruning_ratio {MAX_PRUNING_RATIO}) the FLOPs '
            f'ratio is {flops / supernet_flops:.4f}')
    model.zero_grad(set_to_none=True)
    current.update(model=model, alive=alive)
    best = closest_to_target([c for c in (previous, current) if c], target_flops)
    if best is None:
        raise ValueError(
            f'tp_prune: Torch-Pruning jumped over the FLOPs target {target}: step '
            f'{current["steps"]} of {PROGRESSIVE_STEPS} went to a FLOPs ratio of '
            f'{flops / supernet_flops:.4f} (counted steps before it: {curve[-4:-1]}), '
            f'none within {FALLBACK_TOLERANCE:.0%}')
    if best is not current:
        _log(f'step {current["steps"]} went below the target by more than {TOLERANCE:.0%}; '
             f'taking step {best["steps"]} (FLOPs ratio {best["flops"] / supernet_flops:.4f})')
    for name, module in best['model'].named_modules():
        if name in best['alive'] and len(best['alive'][name]) != _out_size(module):
            raise RuntimeError(f'tp_prune: lost track of the channels of {name}: '
                               f'{len(best["alive"][name])} tracked, {_out_size(module)} in '
                               'the model')
    best['model'].eval()
    best['curve'] = curve
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

    found = progressive_prune(supernet, supernet_flops, target, importance, batches,
                              input_shape)
    tp_model, flops = found['model'], found['flops']
    _log(f'{found["steps"]} steps (pruning_ratio {found["pruning_ratio"]:.4f}): FLOPs ratio '
         f'{flops / supernet_flops:.4f}')

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
        max_pruning_ratio=MAX_PRUNING_RATIO, iterative_steps=PROGRESSIVE_STEPS, round_to=None,
        ignored_layers=[name for name, m in supernet.named_modules()
                        if any(m is layer for layer in _classifier_layers(supernet))],
        pruning_ratio=found['pruning_ratio'], steps=found['steps'], curve=found['curve'],
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
