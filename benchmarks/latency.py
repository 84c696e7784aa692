"""Latency targets: the latency a DMS export is predicted to take against the
latency it takes when measured, and the payoff, on this device.

For each model: its latency table, measured here (as ``tools/measure_latency.py``
does, with the calibration), then for each target ratio of the supernet's
latency a structure exported at that target (``export_subnet`` with the
scaling to the target, as ``tools/export_subnet.py --scale-to-target``) and
its static model timed beside the supernet, in turns, in one process:

* predicted: the soft latency of the export (``subnet.json``'s
  ``soft_latency_ms``), and its error against the measured latency; as
  ratios to the supernet's too (predicted over the table's supernet, measured
  over the supernet timed beside it), which a device whose speed drifts
  between the table and the timing moves less;
* payoff: ``(1 - measured ratio) / (1 - target ratio)``: 1 when the export
  saves what the target asked, below when it saves less.

The structure of each export comes from a DMS search under the latency target
where ``--search-epochs N`` is given (``tools/train.py`` on the config's own
data, so only for the configs that train here: the glyphs and digits ones);
otherwise from random importances and keep ratios (seeded), scaled to the
target by the export: a check of the estimate, not of a search. The report
says which. Examples::

    python benchmarks/latency.py --model resnet18-w16 --search-epochs 2
    python benchmarks/latency.py --model efficientnet-b0 resnet-50 yolox-s --batch 1

It writes ``report.md`` and ``results.json`` in ``--work-dir`` and prints the
table.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

#: the search configs the benchmark knows by name, with the input side they are timed at
MODELS = {
    'resnet18-w16': ('configs/dms/resnet/dms_resnet18-w16_search_glyphs.py', 32),
    'efficientnet-b0': ('configs/dms/efficientnet/dms_efficientnet-b0_search_in1k.py', 224),
    'resnet-50': ('configs/dms/resnet/dms_resnet-50_search_digits.py', 224),
    'yolox-s': ('configs/dms/yolox/dms_yolox-s_search_coco.py', 640),
}
TARGET_KEYS = ('target_flops_ratio', 'target_flops', 'target_params', 'target_latency')


def load_cfg(config: str, size: int, batch: int, table: str = None, target: float = None,
             group_size: bool = False):
    """The search config at this input size and batch, with a latency target
    (and the channels in groups of the table's divisor, with ``group_size``)."""
    from mmengine.config import Config
    cfg = Config.fromfile(config if osp.isabs(config) else osp.join(ROOT, config))
    demo = list(cfg.model.mutator.parse_cfg.demo_input)
    demo[0] = batch
    if size:
        demo[-2:] = [size, size]
    cfg.model.mutator.parse_cfg.demo_input = tuple(demo)
    if table is not None:
        cfg.model.update({key: None for key in TARGET_KEYS})
        cfg.model.update(target_latency_ratio=target,
                         latency_table=dict(path=table, group_size=True) if group_size else table)
    return cfg


def build_algorithm(cfg):
    from mmrazor.registry import MODELS as RAZOR_MODELS
    return RAZOR_MODELS.build(cfg.model)


def measure_table(name: str, config: str, size: int, args, out: str):
    from benchmarks.subnets import build_architecture
    from dms_mm.resources.latency_table import measure_latency_table
    cfg = load_cfg(config, size, args.batch)
    algorithm = build_algorithm(cfg)
    table = measure_latency_table(build_architecture(cfg), algorithm.mutator, args.device,
                                  steps=args.steps, iters=args.iters, warmup=args.warmup,
                                  config=config, architecture=algorithm.architecture)
    table.save(out)
    print(f'latency: {name}: {table}', flush=True)
    return table


def search(config: str, table: str, target: float, epochs: int, work_dir: str, args) -> str:
    """A DMS search under the latency target through tools/train.py; its last
    checkpoint."""
    import subprocess
    ckpt = osp.join(work_dir, f'epoch_{epochs}.pth')
    if osp.isfile(ckpt):
        return ckpt
    table_opts = ([f'model.latency_table.path={table}', 'model.latency_table.group_size=True']
                  if args.group_size else [f'model.latency_table={table}'])
    opts = [f'model.{key}=None' for key in TARGET_KEYS] + table_opts + [
        f'model.target_latency_ratio={target}',
        f'train_cfg.max_epochs={epochs}', f'train_cfg.val_begin={epochs + 1}']
    if args.search_images:
        opts.append(f'train_dataloader.dataset.num_images={args.search_images}')
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    with open(work_dir + '.log', 'w') as log:
        subprocess.run([sys.executable, osp.join(ROOT, 'tools/train.py'), config, '--work-dir',
                        work_dir, '--cfg-options', *opts], cwd=ROOT, env=env, stdout=log,
                       stderr=subprocess.STDOUT, check=True)
    return ckpt


def time_side_by_side(models, x, args, rounds: int = 5):
    """The median latency (ms) of each model, timed in turns ``rounds`` times."""
    from dms_mm.resources.latency_table import median_ms, model_forward
    times = [[] for _ in models]
    for _ in range(rounds):
        for i, model in enumerate(models):
            times[i].append(median_ms(model_forward(model, x), args.iters, args.warmup,
                                      args.device))
    return [statistics.median(t) for t in times]


@torch.no_grad()
def run_model(name: str, args) -> list:
    from benchmarks.subnets import build_architecture, randomize_structure
    from dms_mm.structures import to_static
    from dms_mm.structures.export import export_subnet, resolve_divisor
    config, size = MODELS[name]
    size = args.size or size
    folder = osp.join(args.work_dir, name)
    os.makedirs(folder, exist_ok=True)
    table_path = osp.join(folder, 'latency_table.json')
    measure_table(name, config, size, args, table_path)
    rows = []
    for target in args.targets:
        cfg = load_cfg(config, size, args.batch, table_path, target, args.group_size)
        algorithm = build_algorithm(cfg)
        mutator = algorithm.mutator
        if args.search_epochs:
            work = osp.join(folder, f'search_t{target}')
            ckpt = search(config, osp.abspath(table_path), target, args.search_epochs, work, args)
            state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
            algorithm.load_state_dict(state)
            structure = f'DMS search, {args.search_epochs} epochs' + (
                f', in groups of {mutator.searchable_units[0].mutable_channel.group_size}'
                if args.group_size else '')
        else:
            randomize_structure(mutator, args.seed, low=0.3)
            structure = f'random (seed {args.seed}), scaled to the target'
        algorithm.eval()
        exports = [(structure, export_subnet(algorithm, osp.join(folder, f'export_t{target}'),
                                             scale=True))]
        statics = [to_static(algorithm.architecture, mutator).eval()]
        if args.divisor != 1:  # the same structure, its widths rounded to the divisor
            divisor = resolve_divisor(mutator, args.divisor)
            exports.append((f'{structure}, widths rounded to multiples of {divisor}',
                            export_subnet(algorithm,
                                          osp.join(folder, f'export_t{target}_d{divisor}'),
                                          divisor=divisor, scale=True)))
            statics.append(to_static(algorithm.architecture, mutator).eval())
        supernet = build_architecture(cfg).eval()
        x = torch.rand(tuple(mutator.demo_input_shape))
        supernet_ms, *export_ms = time_side_by_side([supernet, *statics], x, args)
        for (kept, subnet), ms in zip(exports, export_ms):
            rows.append(_row(name, mutator, target, kept, subnet['resources'], ms, supernet_ms))
            print(f'latency: {name} at {target} ({kept}): predicted '
                  f'{rows[-1]["predicted_ms"]:.3f} ms, measured {ms:.3f} ms (supernet '
                  f'{supernet_ms:.3f} ms), payoff {rows[-1]["payoff"]:.2f}', flush=True)
    return rows


def _row(name, mutator, target, structure, res, export_ms, supernet_ms) -> dict:
    measured_ratio = export_ms / supernet_ms
    predicted_ratio = res['soft_latency_ms'] / res['supernet_latency_ms']
    return dict(predicted_ratio=predicted_ratio, ratio_error=predicted_ratio / measured_ratio - 1,
                model=name, input=list(mutator.demo_input_shape), target=target,
                structure=structure, predicted_ms=res['soft_latency_ms'],
                predicted_supernet_ms=res['supernet_latency_ms'], measured_ms=export_ms,
                measured_supernet_ms=supernet_ms, error=res['soft_latency_ms'] / export_ms - 1,
                measured_ratio=measured_ratio, payoff=(1 - measured_ratio) / (1 - target),
                flops_ratio=res['static_flops'] / res['counted_supernet_flops'])


def report(rows, args, meta) -> str:
    lines = [
        f'Device: {meta["device_name"]} ({args.device}), torch {meta["torch"]}, '
        f'{meta["dtype"]}, batch {args.batch}, {args.threads} thread(s). Latency: median of '
        f'{args.iters} runs after {args.warmup}, the export and the supernet in turns.', '',
        '| model | input | target | structure | predicted (ms) | measured (ms) | error | '
        'predicted ratio | measured ratio | ratio error | payoff | FLOPs ratio |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for r in rows:
        lines.append(
            f'| {r["model"]} | {"x".join(map(str, r["input"]))} | {r["target"]} | '
            f'{r["structure"]} | {r["predicted_ms"]:.3f} | {r["measured_ms"]:.3f} '
            f'(supernet {r["measured_supernet_ms"]:.3f}, table '
            f'{r["predicted_supernet_ms"]:.3f}) | {r["error"]:+.1%} | '
            f'{r["predicted_ratio"]:.3f} | {r["measured_ratio"]:.3f} | {r["ratio_error"]:+.1%} | '
            f'{r["payoff"]:.2f} | {r["flops_ratio"]:.3f} |')
    good = [r for r in rows if abs(r['error']) <= 0.1]
    good_ratio = [r for r in rows if abs(r['ratio_error']) <= 0.1]
    paid = [r for r in rows if r['payoff'] >= 0.9]
    lines += ['', f'- Predicted within 10 % of measured: {len(good)} of {len(rows)} in '
              f'milliseconds, {len(good_ratio)} of {len(rows)} as ratios to the supernet.',
              f'- Payoff at least 0.9: {len(paid)} of {len(rows)}.']
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', nargs='+', choices=sorted(MODELS), default=['resnet18-w16'])
    parser.add_argument('--targets', nargs='+', type=float, default=[0.7, 0.5])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--size', type=int, default=0, help='input side (default: per model)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--steps', type=int, default=8, help='widths per side in the table')
    parser.add_argument('--iters', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--divisor', default=1, type=lambda t: t if t == 'table' else int(t),
                        help='also export each structure with its widths rounded to multiples '
                        'of this, timed beside the unrounded one; "table": the divisor the '
                        'latency table measured as this device\'s fastest (default 1: no)')
    parser.add_argument('--group-size', action='store_true',
                        help='search with latency_table=dict(path=..., group_size=True): '
                        'channels in groups of the divisor the table prefers')
    parser.add_argument('--search-epochs', type=int, default=0,
                        help='search each target this many epochs with tools/train.py (the '
                        'configs whose data is here); 0: random structures')
    parser.add_argument('--search-images', type=int, default=20000,
                        help='training images of each search (0: the config\'s; default '
                        '20000, as benchmarks/compare.py)')
    parser.add_argument('--work-dir', default='work_dirs/latency_benchmark')
    return parser.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    from mmengine.registry import DefaultScope

    import dms_mm  # noqa: F401
    start = time.time()
    rows, meta = [], None
    with DefaultScope.overwrite_default_scope('mmrazor'):
        for name in args.model:
            rows += run_model(name, args)
            with open(osp.join(args.work_dir, name, 'latency_table.json')) as f:
                meta = json.load(f)['meta']
    text = report(rows, args, meta)
    command = 'python benchmarks/latency.py ' + ' '.join(sys.argv[1:] if argv is None else argv)
    header = (f'## {time.strftime("%Y-%m-%d")}: `{command}`\n\n'
              f'{(time.time() - start) / 60:.0f} minutes.\n\n')
    with open(osp.join(args.work_dir, 'report.md'), 'w') as f:
        f.write(header + text + '\n')
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(dict(rows=rows, meta=meta), f, indent=1)
    print('\n' + text, flush=True)
    return text


if __name__ == '__main__':
    main()
