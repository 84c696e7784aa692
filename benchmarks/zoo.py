"""The model zoo: which of mmpretrain's backbones and mmdet's detectors DMS
searches and exports exactly, each at a small arch.

For each backbone, under a linear classifier on its last output (pooled):

* prepare the mutator (its export check included: a random structure of a
  copy is exported and compared while preparing);
* one search step (:func:`search_step`): which searched parts get no gradient;
* what it searches: channel units searched, left out and fixed, stages,
  attentions, and the reasons of what is left out;
* a random structure (every searched part at a random keep ratio), exported:
  the relative difference of the static model's output from the searched
  model's under hard masks (at most 1e-4), and mmengine's FLOPs and params of
  the export against the soft counts (within 1 %);
* the smallest FLOPs ratio a search can reach (every searched part at its
  lowest keep ratio), and the share of the supernet's FLOPs in layers no
  search changes.

Run::

    python benchmarks/zoo.py                     # every backbone and detector of the lists
    python benchmarks/zoo.py --models ResNet ConvNeXt --work-dir work_dirs/zoo

It writes ``zoo.md`` and ``zoo.json`` in ``--work-dir`` and prints the table.
The detectors of :data:`DETECTORS` (mmdet's configs, no weights, at 320x320)
go through the same steps on their tensor mode (every output compared).
Beside each model, Torch-Pruning's DepGraph pruner prunes the same model
(:func:`run_torch_pruning`; ``--no-torch-pruning`` skips it).
"""
import argparse
import json
import os
import os.path as osp
import re
import time
import traceback

import torch
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from torch import nn

import dms_mm  # noqa: F401  (registers the DMS classes, applies the compat fixes)
from dms_mm.mutators import DMSMutator
from dms_mm.structures import ExportCheckError, count_static, randomize_structure, to_static
from dms_mm.structures.export_check import relative_difference
from dms_mm.utils import flat_tensors

#: backbone -> (its config at a small arch, input side[, input channels])
ZOO = {
    'AlexNet': (dict(type='AlexNet'), 224),
    'BEiTViT': (dict(type='BEiTViT', arch='small', img_size=64, patch_size=16), 64),
    'CSPDarkNet': (dict(type='CSPDarkNet', depth=53), 64),
    'CSPResNet': (dict(type='CSPResNet', depth=50), 64),
    'CSPResNeXt': (dict(type='CSPResNeXt', depth=50), 64),
    'Conformer': (dict(type='Conformer', arch='tiny'), 224),
    'ConvMixer': (dict(type='ConvMixer', arch='768/32'), 64),
    'ConvNeXt': (dict(type='ConvNeXt', arch='atto'), 64),
    'DaViT': (dict(type='DaViT', arch='t'), 224),
    'DeiT3': (dict(type='DeiT3', arch='s', img_size=64), 64),
    'DenseNet': (dict(type='DenseNet', arch='121'), 64),
    'DistilledVisionTransformer': (dict(type='DistilledVisionTransformer', arch='deit-small',
                                        img_size=64), 64),
    'EdgeNeXt': (dict(type='EdgeNeXt', arch='xxsmall'), 64),
    'EfficientFormer': (dict(type='EfficientFormer', arch='l1'), 224),
    'EfficientNet': (dict(type='EfficientNet', arch='b0'), 64),
    'EfficientNetV2': (dict(type='EfficientNetV2', arch='s'), 64),
    # one fused output (with every scale out and the head on the last, the fusions into
    # the other branches would be dead code, which mmengine's trace leaves out)
    'HRNet': (dict(type='HRNet', arch='w18', multiscale_output=False), 64),
    'HiViT': (dict(type='HiViT', arch='tiny', img_size=64), 64),
    'HorNet': (dict(type='HorNet', arch='tiny'), 64),
    'InceptionV3': (dict(type='InceptionV3'), 299),
    'LeNet5': (dict(type='LeNet5'), 32, 1),
    'LeViT': (dict(type='LeViT', arch='128s', img_size=64), 64),
    'MViT': (dict(type='MViT', arch='tiny', img_size=64), 64),
    'MixMIMTransformer': (dict(type='MixMIMTransformer', arch='b'), 224),
    'MlpMixer': (dict(type='MlpMixer', arch='s', img_size=64), 64),
    'MobileNetV2': (dict(type='MobileNetV2', widen_factor=0.5), 64),
    'MobileNetV3': (dict(type='MobileNetV3', arch='small'), 64),
    'MobileOne': (dict(type='MobileOne', arch='s0'), 64),
    'MobileViT': (dict(type='MobileViT', arch='xx_small'), 64),
    'PCPVT': (dict(type='PCPVT', arch='s'), 64),
    'PoolFormer': (dict(type='PoolFormer', arch='s12'), 64),
    'PyramidVig': (dict(type='PyramidVig', arch='tiny'), 224),
    'RIFormer': (dict(type='RIFormer', arch='s12'), 64),
    'RegNet': (dict(type='RegNet', arch='regnetx_400mf'), 64),
    'RepLKNet': (dict(type='RepLKNet', arch='31B'), 64),
    'RepMLPNet': (dict(type='RepMLPNet', arch='b', img_size=64), 64),
    'RepVGG': (dict(type='RepVGG', arch='A0'), 64),
    'Res2Net': (dict(type='Res2Net', depth=50), 64),
    'ResNeSt': (dict(type='ResNeSt', depth=50), 64),
    'ResNeXt': (dict(type='ResNeXt', depth=50), 64),
    'ResNet': (dict(type='ResNet', depth=18), 64),
    'ResNetV1c': (dict(type='ResNetV1c', depth=18), 64),
    'ResNetV1d': (dict(type='ResNetV1d', depth=18), 64),
    'ResNet_CIFAR': (dict(type='ResNet_CIFAR', depth=18), 32),
    'RevVisionTransformer': (dict(type='RevVisionTransformer', arch='s', img_size=64), 64),
    'SEResNeXt': (dict(type='SEResNeXt', depth=50), 64),
    'SEResNet': (dict(type='SEResNet', depth=50), 64),
    'SVT': (dict(type='SVT', arch='s'), 64),
    'ShuffleNetV1': (dict(type='ShuffleNetV1'), 64),
    'ShuffleNetV2': (dict(type='ShuffleNetV2'), 64),
    'SwinTransformer': (dict(type='SwinTransformer', arch='tiny'), 224),
    'SwinTransformerV2': (dict(type='SwinTransformerV2', arch='tiny'), 256),
    'T2T_ViT': (dict(type='T2T_ViT', img_size=64), 64),
    'TNT': (dict(type='TNT', arch='s', img_size=64), 64),
    'TinyViT': (dict(type='TinyViT', arch='5m', img_size=(64, 64)), 64),
    'VAN': (dict(type='VAN', arch='tiny'), 64),
    'VGG': (dict(type='VGG', depth=11), 64),
    'ViTEVA02': (dict(type='ViTEVA02', arch='tiny', img_size=64), 64),
    'Vig': (dict(type='Vig', arch='tiny'), 224),
    'VisionTransformer': (dict(type='VisionTransformer', arch='s', img_size=64), 64),
    'XCiT': (dict(type='XCiT', img_size=64), 64),
}


#: detector -> (mmdet's or mmyolo's config of it, input side)
DETECTORS = {
    'YOLOv8-n': ('mmyolo::yolov8/yolov8_n_syncbn_fast_8xb16-500e_coco.py', 320),
    'YOLOX-s': ('mmdet::yolox/yolox_s_8xb8-300e_coco.py', 320),
    'RTMDet-tiny': ('mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py', 320),
    'RetinaNet-R18': ('mmdet::retinanet/retinanet_r18_fpn_1x_coco.py', 320),
    'FCOS-R18': ('mmdet::fcos/fcos_r18_fpn_gn-head-center-normbbox-centeronreg-giou_8xb8-amp-'
                 'lsj-200e_coco.py', 320),
    'FasterRCNN-R50': ('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', 320),
}


class ZooClassifier(BaseModel):
    """A backbone under a linear classifier on its last output, pooled.

    Args:
        backbone (nn.Module): The backbone.
        path (list): The indices that reach its last output tensor in what it
            returns (a tuple of stages, a tuple of tokens and features).
        pool (tuple): The dims averaged to ``(N, C)``.
        in_channels (int): The channels of that output.
    """

    def __init__(self, backbone: nn.Module, path, pool, in_channels: int,
                 num_classes: int = 10):
        super().__init__()
        self.backbone = backbone
        self.path, self.pool = list(path), tuple(pool)
        self.head = nn.Linear(in_channels, num_classes)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = self.backbone(inputs)
        for index in self.path:
            x = x[index]
        return self.head(x.mean(self.pool) if self.pool else x)


def _last_output(outputs):
    """The index path to the last tensor of ``outputs``, and that tensor."""
    path = []
    while isinstance(outputs, (tuple, list)):
        path.append(len(outputs) - 1)
        outputs = outputs[-1]
    return path, outputs


def input_shape(name: str) -> tuple:
    """The demo input of a backbone of :data:`ZOO` or a detector of :data:`DETECTORS`."""
    entry = ZOO.get(name) or DETECTORS[name]
    channels = entry[2] if len(entry) > 2 else 3
    return (1, channels, entry[1], entry[1])


def build_detector(name: str) -> nn.Module:
    """A detector of :data:`DETECTORS` from mmdet's or mmyolo's config (no
    weights loaded), in eval mode; its tensor mode runs on an image tensor."""
    from mmengine.hub import get_config
    from mmengine.registry import MODELS
    path = DETECTORS[name][0]
    cfg = get_config(path)
    scope = path.split('::')[0]
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(cfg.model).eval()


def build(name: str) -> nn.Module:
    if name in DETECTORS:
        return build_detector(name)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        backbone = PRETRAIN_MODELS.build(dict(ZOO[name][0]))
    backbone.eval()
    with torch.no_grad():
        path, x = _last_output(backbone(torch.rand(input_shape(name))))
    pool = {4: (2, 3), 3: (1, )}.get(x.dim(), ())
    channels = x.shape[1] if x.dim() != 3 else x.shape[-1]
    if name == 'MlpMixer':  # it returns (B, C, tokens), channels first
        pool, channels = (2, ), x.shape[1]
    return ZooClassifier(backbone, path, pool, channels).eval()


def _lowest(mutator) -> None:
    for mutable in mutator.dms_mutables():
        mutable.keep_ratio.data.fill_(0.0)
    mutator.clamp_()


def search_step(model: nn.Module, mutator: DMSMutator, shape: tuple,
                target: float = 0.5) -> list:
    """One search step, as ``DMSAlgorithm`` takes it, on a random batch of
    two: the masks tracked for the importance, a stand-in task loss (the mean
    square of every output) plus the FLOPs loss towards ``target``, backward,
    and the importance update. Nothing is stepped: the model is left as it
    was, gradients cleared.

    Returns:
        list: The searched mutables that got no gradient, by name.
    """
    model.train()
    mutator.refresh_masks('track')
    try:
        outputs = flat_tensors(model(torch.rand((2, ) + shape[1:])))
        task = sum(t.float().pow(2).mean() for t in outputs if t.is_floating_point())
        ratio = mutator.soft_resources(grad=('flops', ))['flops'] / mutator.supernet_flops
        (task + torch.log(ratio / target).clamp(min=0)).backward()
        mutator.update_importance()
        names = dict((id(m), n) for n, m in mutator.named_dms_mutables())
        missing = [names.get(id(m), type(m).__name__) for m in mutator.dms_mutables()
                   if not m.frozen and m.keep_ratio.requires_grad
                   and (m.keep_ratio.grad is None or not torch.isfinite(m.keep_ratio.grad).all()
                        or not m.keep_ratio.grad.abs().sum())]
    finally:
        mutator.clear_masks()
        model.zero_grad(set_to_none=True)
        mutator.zero_grad(set_to_none=True)
        model.eval()
    return missing


def run(name: str) -> dict:
    """One backbone's row."""
    entry = ZOO.get(name) or DETECTORS[name]
    row = dict(name=name, arch=entry[0], size=entry[1])
    start = time.perf_counter()
    stage = 'build'
    try:
        model = build(name)
        shape = input_shape(name)
        stage = 'prepare'
        mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=shape,
                                            tracer_type='FxTracer'))
        mutator.prepare_from_supernet(model)
        row.update(
            units=len(mutator.searchable_units), left_out=dict(mutator.excluded_units),
            fixed=len(mutator.fixed_units), not_traced=dict(mutator.untraced_parts),
            stages=len(mutator.stages), attentions=len(mutator.attentions),
            supernet_flops=mutator.supernet_flops,
            approximate_counts=dict(mutator.approximate_counts))
        stage = 'count'
        mutator.refresh_masks('hard')
        full_flops, _ = count_static(model, shape)
        mutator.clear_masks()
        row['supernet_count_ratio'] = mutator.supernet_flops / full_flops
        stage = 'search step'
        with torch.no_grad():
            randomize_structure(mutator, seed=0)
        row['no_gradient'] = search_step(model, mutator, shape)
        stage = 'export'
        with torch.no_grad():
            soft = mutator.soft_resources()
            x = torch.rand((2, ) + shape[1:])
            mutator.refresh_masks('hard')
            searched = flat_tensors(model(x))
            mutator.clear_masks()
            static = to_static(model, mutator).eval()
            exported = flat_tensors(static(x))
        row['relative_difference'] = relative_difference(searched, exported)
        flops, params = count_static(static, shape)
        row['export_flops_ratio'] = float(soft['flops']) / flops
        row['export_params_ratio'] = float(soft['params']) / params
        with torch.no_grad():
            _lowest(mutator)
            row['lowest_flops_ratio'] = float(mutator.soft_resources()['flops']) / \
                mutator.supernet_flops
            row['constant_flops_share'] = mutator.resources.constant['flops'] / \
                mutator.supernet_flops
        row['status'] = 'ok'
    except ExportCheckError as error:
        row.update(status='export check', error=str(error).split(' Leave the module')[0])
    except Exception as error:  # a row says why, and the next backbone runs
        row.update(status=f'{stage} failed', error=f'{type(error).__name__}: {error}'[:500],
                   trace=traceback.format_exc(limit=-3)[-1500:])
    row['seconds'] = round(time.perf_counter() - start, 1)
    return row


#: Torch-Pruning's share of channels (and heads) removed from every prunable layer
TP_RATIO = 0.5


def _attention_heads(model: nn.Module) -> dict:
    """Torch-Pruning's ViT recipe: the fused qkv linear of every attention
    that names it ``qkv`` beside its ``num_heads``, with its head count."""
    return {m.qkv: m.num_heads for m in model.modules()
            if isinstance(getattr(m, 'qkv', None), nn.Linear)
            and isinstance(getattr(m, 'num_heads', None), int)}


def _prediction_layers(model: nn.Module) -> list:
    """The layers Torch-Pruning leaves alone, as its examples do: a
    classifier's head; a detector's prediction convolutions and linears (the
    last layers of its heads: class scores, boxes, objectness, centerness)."""
    if isinstance(model, ZooClassifier):
        return [model.head]
    return [m for n, m in model.named_modules()
            if isinstance(m, (nn.Conv2d, nn.Linear)) and '_head' in n
            and re.search(r'(cls|reg|obj|centerness)[^.]*(\.\d+)?$', n)]


def run_torch_pruning(name: str) -> dict:
    """Torch-Pruning's DepGraph pruner on the same backbone, one shot: L2
    magnitude importance, :data:`TP_RATIO` of every group's channels, the
    classifier left alone; attentions with a fused ``qkv`` lose that share of
    their heads (its ViT recipe), their ``num_heads`` and ``head_dims`` set
    from the pruner's. It passes when the pruned model runs and gives
    outputs of the right shape; its FLOPs ratio is mmengine's count."""
    import torch_pruning as tp
    row, stage = {}, 'build'
    start = time.perf_counter()
    try:
        model = build(name)
        shape = input_shape(name)
        x = torch.rand((2, ) + shape[1:])
        flops, _ = count_static(model, shape)
        with torch.no_grad():
            shapes = [t.shape for t in flat_tensors(model(x))]
        heads = _attention_heads(model)
        stage = 'prune'
        pruner = tp.pruner.BasePruner(
            model, torch.rand(shape), importance=tp.importance.GroupMagnitudeImportance(p=2),
            pruning_ratio=TP_RATIO, ignored_layers=_prediction_layers(model), num_heads=heads,
            prune_num_heads=bool(heads), head_pruning_ratio=TP_RATIO if heads else 0.0)
        pruner.step()
        for module in model.modules():
            if getattr(module, 'qkv', None) in heads:
                module.num_heads = pruner.num_heads[module.qkv]
                if hasattr(module, 'head_dims'):
                    module.head_dims = module.qkv.out_features // 3 // module.num_heads
        stage = 'run'
        with torch.no_grad():
            got = [t.shape for t in flat_tensors(model.eval()(x))]
        if got != shapes:
            raise RuntimeError(f'the pruned model gives outputs of shapes {got}, not {shapes}')
        row['tp_flops_ratio'] = count_static(model, shape)[0] / flops
        row['tp_status'] = 'ok'
    except Exception as error:  # a row says why, and the next backbone runs
        row.update(tp_status=f'{stage} failed', tp_error=f'{type(error).__name__}: {error}'[:300])
    row['tp_seconds'] = round(time.perf_counter() - start, 1)
    return row


def _tp_child(name: str, queue) -> None:
    torch.set_num_threads(1)  # a forked child cannot use the parent's thread pool
    queue.put(run_torch_pruning(name))


def run_torch_pruning_within(name: str, seconds: float) -> dict:
    """:func:`run_torch_pruning` in a child process, stopped after
    ``seconds`` (Torch-Pruning's graph of some models does not finish)."""
    import multiprocessing as mp
    context = mp.get_context('fork')
    queue = context.Queue()
    child = context.Process(target=_tp_child, args=(name, queue), daemon=True)
    child.start()
    try:
        return queue.get(timeout=seconds)
    except Exception:  # queue.Empty: it did not finish
        return dict(tp_status='timed out', tp_error=f'not done after {seconds:g} s (stopped)',
                    tp_seconds=float(seconds))
    finally:
        child.join(timeout=5)
        if child.is_alive():
            child.kill()


def tp_pruned(row: dict) -> bool:
    """Torch-Pruning pruned it into a model that runs, with fewer FLOPs."""
    return row.get('tp_status') == 'ok' and row['tp_flops_ratio'] < 0.99


def exact(row: dict) -> bool:
    """Searched and exported exactly: units or stages searched, the export
    equal to the searched model, and the counts within 1 %."""
    return (row.get('status') == 'ok' and (row['units'] or row['stages'] or row['attentions'])
            and row['relative_difference'] <= 1e-4
            and abs(row['export_flops_ratio'] - 1) <= 0.01
            and abs(row['export_params_ratio'] - 1) <= 0.01)


def _why(row: dict) -> str:
    if row.get('status') != 'ok':
        return f'{row["status"]}: {row.get("error", "")}'[:200]
    notes = []
    if not (row['units'] or row['stages'] or row.get('attentions')):
        untraced = next(iter(row.get('not_traced', {}).values()), '')
        notes.append('nothing searched' + (f' ({untraced[:120]})' if untraced else ''))
    if row['relative_difference'] > 1e-4:
        notes.append(f'export differs ({row["relative_difference"]:.1e})')
    if abs(row['export_flops_ratio'] - 1) > 0.01:
        notes.append(f'soft FLOPs {row["export_flops_ratio"]:.3f} of mmengine\'s')
    if abs(row['export_params_ratio'] - 1) > 0.01:
        notes.append(f'soft params {row["export_params_ratio"]:.3f} of mmengine\'s')
    if row.get('no_gradient'):
        notes.append(f'{len(row["no_gradient"])} searched part(s) got no gradient in the '
                     f'search step, e.g. {row["no_gradient"][0]}')
    if row.get('approximate_counts'):
        notes.append(f'{len(row["approximate_counts"])} functional op(s) counted at full '
                     f'width, e.g. {next(iter(row["approximate_counts"]))}')
    if row['left_out']:
        first = next(iter(row['left_out'].values()))
        notes.append(f'{len(row["left_out"])} units left out, e.g. {first[:120]}')
    return '; '.join(notes)


def _tp_cell(row: dict) -> str:
    if 'tp_status' not in row:
        return 'not run'
    if row['tp_status'] == 'ok':
        state = 'runs' if tp_pruned(row) else 'nothing pruned'
        return f'{state}, FLOPs {row["tp_flops_ratio"]:.3f}'
    return f'{row["tp_status"]}: {row.get("tp_error", "")[:100]}'


def _totals(rows, passes) -> str:
    """``'n of m backbones and k of l detectors'`` that ``passes``."""
    parts = []
    for kind, names in (('backbones', ZOO), ('detectors', DETECTORS)):
        chosen = [r for r in rows if r['name'] in names]
        if chosen:
            parts.append(f'{sum(bool(passes(r)) for r in chosen)} of {len(chosen)} {kind}')
    return ' and '.join(parts)


def report(rows) -> str:
    lines = [f'{_totals(rows, exact)} searched and exported exactly (the export equals the '
             'searched model within 1e-4, the soft counts equal mmengine\'s within 1 %).']
    if any('tp_status' in r for r in rows):
        lines.append(f'Torch-Pruning (DepGraph, L2, {TP_RATIO:g} of each group, one shot) '
                     f'pruned {_totals(rows, tp_pruned)} into a model that runs.')
    lines += ['', '| model | input | units searched / left out | stages | attentions | '
              'export diff | soft/mmengine FLOPs | lowest FLOPs ratio | exact | notes | '
              'Torch-Pruning |',
              '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for r in rows:
        if r.get('status') == 'ok':
            cells = [f'{r["units"]} / {len(r["left_out"])}', str(r['stages']),
                     str(r['attentions']), f'{r["relative_difference"]:.1e}',
                     f'{r["export_flops_ratio"]:.4f}', f'{r["lowest_flops_ratio"]:.3f}']
        else:
            cells = [''] * 6
        lines.append(f'| {r["name"]} | {r["size"]} | ' + ' | '.join(cells) +
                     f' | {"yes" if exact(r) else "no"} | {_why(r)} | {_tp_cell(r)} |')
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', nargs='+', choices=sorted(ZOO) + list(DETECTORS),
                        default=sorted(ZOO) + list(DETECTORS))
    parser.add_argument('--work-dir', default='work_dirs/zoo')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--no-torch-pruning', action='store_true',
                        help="skip Torch-Pruning's pruner beside each backbone")
    parser.add_argument('--tp-seconds', type=float, default=300,
                        help="stop Torch-Pruning's pruner of a model after this long")
    parser.add_argument('--report-from', nargs='+', metavar='ZOO_JSON',
                        help='print the report of earlier runs (their zoo.json) instead of '
                        "running; a later file's fields of a model replace an earlier one's, "
                        'so a run with --no-torch-pruning keeps the Torch-Pruning fields of '
                        'an earlier one')
    args = parser.parse_args(argv)
    if args.report_from:
        merged = {}
        for path in args.report_from:
            with open(path) as f:
                for row in json.load(f):
                    merged.setdefault(row['name'], {}).update(row)
        order = {name: i for i, name in enumerate(sorted(ZOO) + list(DETECTORS))}
        rows = sorted(merged.values(), key=lambda row: order.get(row['name'], len(order)))
        print(report(rows))
        return rows
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    os.makedirs(args.work_dir, exist_ok=True)
    rows = []
    for name in args.models:
        rows.append(run(name))
        if not args.no_torch_pruning:
            rows[-1].update(run_torch_pruning_within(name, args.tp_seconds))
        print(f'{name}: {rows[-1]["status"]} ({rows[-1]["seconds"]} s); Torch-Pruning: '
              f'{rows[-1].get("tp_status", "not run")}', flush=True)
        with open(osp.join(args.work_dir, 'zoo.json'), 'w') as f:
            json.dump(rows, f, indent=1, default=str)
    text = report(rows)
    with open(osp.join(args.work_dir, 'zoo.md'), 'w') as f:
        f.write(text + '\n')
    print(text)
    return rows


if __name__ == '__main__':
    main()
