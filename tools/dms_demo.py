"""The main job (``make demo``): DMS against uniform scaling on the digits set.

For every seed it runs, through the ordinary tools:

1. a DMS search of mmpretrain's EfficientNet-B0 on scikit-learn's digits down
   to a FLOPs target, then the export, the retraining and the test;
2. the same supernet scaled *uniformly* (one keep ratio for every width and
   every stage's removable blocks) to the same FLOPs, trained from scratch
   for the same number of epochs as search + retraining, then tested;
3. the unpruned supernet, trained as long, then tested.

It writes ``report.md`` (FLOPs, params, top-1 mean and spread over seeds, wall
time), ``structure.png`` and ``search_curve.png`` to the work dir. Nothing is
downloaded; no GPU is needed.
"""
import argparse
import json
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import time
import warnings

# mmengine imports pkg_resources (setuptools<81 is pinned for the mmcv build); its
# deprecation notice is noise on the demo's terminal
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

SEARCH = 'configs/dms/efficientnet/dms_efficientnet-b0_search_digits.py'
RETRAIN = 'configs/dms/efficientnet/dms_efficientnet-b0_retrain_digits.py'
SUPERNET = 'configs/baselines/efficientnet-b0_1xb32_digits.py'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='DMS demo on the digits set')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--target', type=float, default=0.3, help='FLOPs target ratio')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    parser.add_argument('--epochs', type=int, default=12,
                        help='epochs of the search and of the retraining; the baselines '
                        'train for twice as many')
    return parser.parse_args(argv)


class Progress:

    def __init__(self, total: int):
        self.total, self.done, self.start = total, 0, time.time()

    def step(self, text: str):
        self.done += 1
        elapsed = time.time() - self.start
        print(f'[{self.done:2d}/{self.total}] {elapsed / 60:5.1f} min  {text}', flush=True)


def run(cmd, log_path):
    """Run a tool, its output to ``log_path``; return (output, wall seconds)."""
    start = time.time()
    with open(log_path, 'w') as log:
        proc = subprocess.run([sys.executable] + cmd, cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT, text=True)
    seconds = time.time() - start
    with open(log_path) as f:
        output = f.read()
    if proc.returncode != 0:
        sys.stderr.write(output[-4000:])
        raise SystemExit(f'demo: `{" ".join(cmd)}` failed; see {log_path}')
    return output, seconds


def top1(output: str) -> float:
    found = re.findall(r'Epoch\(test\).*accuracy/top1: ([\d.]+)', output)
    if not found:
        raise SystemExit('demo: no test accuracy in the output')
    return float(found[-1])


def uniform_subnet(target: float, out_dir: str) -> dict:
    """The supernet scaled uniformly in width and depth to the FLOPs target
    (``out_dir/subnet.json``; see ``benchmarks/subnets.py``)."""
    from benchmarks.subnets import uniform_subnet as build
    return build(osp.join(ROOT, SEARCH), target, out_dir)


def mean_spread(values):
    mean = statistics.mean(values)
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, spread


def main(argv=None):
    args = parse_args(argv)
    work = osp.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    epochs, double = args.epochs, 2 * args.epochs
    progress = Progress(total=2 + len(args.seeds) * 6)
    print(f'DMS demo: EfficientNet-B0 on digits (32x32), FLOPs target {args.target}, seeds '
          f'{args.seeds}; logs in {work}', flush=True)

    uniform = uniform_subnet(args.target, osp.join(work, 'uniform'))
    uniform_path = osp.join(work, 'uniform', 'subnet.json')
    method = uniform['resources']['method']
    progress.step(f'uniform scaling to the target: keep ratio {method["keep_ratio"]:.3f}, '
                  f'FLOPs ratio {method["reached_soft_ratio"]:.3f}')

    rows = {name: dict(top1=[], seconds=[]) for name in ('supernet', 'uniform', 'dms')}
    dms_resources = []
    for seed in args.seeds:
        tag = f'seed{seed}'
        seed_opt = [f'randomness.seed={seed}']
        search_dir = osp.join(work, f'dms_{tag}', 'search')
        _, t_search = run(['tools/train.py', SEARCH, '--work-dir', search_dir,
                           '--cfg-options', f'model.target_flops_ratio={args.target}',
                           f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
                           *seed_opt], osp.join(work, f'dms_{tag}_search.log'))
        export = osp.join(search_dir, 'dms_export')
        with open(osp.join(export, 'subnet.json')) as f:
            res = json.load(f)['resources']
        dms_resources.append(res)
        progress.step(f'{tag}: DMS search {t_search:.0f} s, exported FLOPs ratio '
                      f'{res["static_flops"] / res["counted_supernet_flops"]:.3f}')
        subnet_opts = [f'model.subnet={export}/subnet.json']
        retrain_dir = osp.join(work, f'dms_{tag}', 'retrain')
        _, t_retrain = run(['tools/train.py', RETRAIN, '--work-dir', retrain_dir,
                            '--cfg-options', *subnet_opts,
                            f'model.checkpoint={export}/pruned.pth',
                            f'train_cfg.max_epochs={epochs}',
                            f'train_cfg.val_interval={epochs}', *seed_opt],
                           osp.join(work, f'dms_{tag}_retrain.log'))
        progress.step(f'{tag}: DMS retrain {t_retrain:.0f} s')
        out, t_test = run(['tools/test.py', RETRAIN, osp.join(retrain_dir, f'epoch_{epochs}.pth'),
                           '--work-dir', osp.join(work, f'dms_{tag}', 'test'),
                           '--cfg-options', *subnet_opts, 'model.checkpoint=None'],
                          osp.join(work, f'dms_{tag}_test.log'))
        rows['dms']['top1'].append(top1(out))
        rows['dms']['seconds'].append(t_search + t_retrain)
        progress.step(f'{tag}: DMS top-1 {rows["dms"]["top1"][-1]:.2f} %')

        uniform_dir = osp.join(work, f'uniform_{tag}')
        _, t_uniform = run(['tools/train.py', RETRAIN, '--work-dir', uniform_dir,
                            '--cfg-options', f'model.subnet={uniform_path}',
                            'model.checkpoint=None', 'model.reset_params=True',
                            f'train_cfg.max_epochs={double}', f'train_cfg.val_interval={double}',
                            *seed_opt], osp.join(work, f'uniform_{tag}_train.log'))
        progress.step(f'{tag}: uniform baseline trained {t_uniform:.0f} s')
        out, _ = run(['tools/test.py', RETRAIN, osp.join(uniform_dir, f'epoch_{double}.pth'),
                      '--work-dir', osp.join(uniform_dir, 'test'), '--cfg-options',
                      f'model.subnet={uniform_path}', 'model.checkpoint=None'],
                     osp.join(work, f'uniform_{tag}_test.log'))
        rows['uniform']['top1'].append(top1(out))
        rows['uniform']['seconds'].append(t_uniform)
        progress.step(f'{tag}: uniform top-1 {rows["uniform"]["top1"][-1]:.2f} %')

        supernet_dir = osp.join(work, f'supernet_{tag}')
        _, t_super = run(['tools/train.py', SUPERNET, '--work-dir', supernet_dir,
                          '--cfg-options', f'train_cfg.max_epochs={double}',
                          f'train_cfg.val_interval={double}', *seed_opt],
                         osp.join(work, f'supernet_{tag}_train.log'))
        out, _ = run(['tools/test.py', SUPERNET, osp.join(supernet_dir, f'epoch_{double}.pth'),
                      '--work-dir', osp.join(supernet_dir, 'test')],
                     osp.join(work, f'supernet_{tag}_test.log'))
        rows['supernet']['top1'].append(top1(out))
        rows['supernet']['seconds'].append(t_super)
        progress.step(f'{tag}: supernet top-1 {rows["supernet"]["top1"][-1]:.2f} % '
                      f'({t_super:.0f} s)')

    first = osp.join(work, f'dms_seed{args.seeds[0]}', 'search')
    for picture in ('structure.png', 'search_curve.png'):
        with open(osp.join(first, picture), 'rb') as src, \
                open(osp.join(work, picture), 'wb') as dst:
            dst.write(src.read())
    write_report(work, args, rows, uniform['resources'], dms_resources)
    progress.step(f'wrote {work}/report.md, structure.png, search_curve.png')


def write_report(work, args, rows, uniform_res, dms_resources):
    supernet_flops = dms_resources[0]['counted_supernet_flops']
    supernet_params = dms_resources[0]['counted_supernet_params']
    flops = dict(supernet=(supernet_flops, supernet_params),
                 uniform=(uniform_res['static_flops'], uniform_res['static_params']))
    dms_flops = [r['static_flops'] for r in dms_resources]
    dms_params = [r['static_params'] for r in dms_resources]
    flops['dms'] = (statistics.mean(dms_flops), statistics.mean(dms_params))
    names = dict(supernet='Supernet (EfficientNet-B0)',
                 uniform='Uniform scaling (width and depth)', dms='DMS (search + retrain)')
    lines = [
        '# DMS demo: EfficientNet-B0 on scikit-learn digits (32x32)', '',
        f'FLOPs target: {args.target} of the supernet. Seeds: {args.seeds}. '
        f'DMS: {args.epochs}-epoch search + {args.epochs}-epoch retrain from the searched '
        f'weights; uniform baseline and supernet: {2 * args.epochs} epochs from scratch. '
        'Top-1 on the 360-image test split; FLOPs and params counted by mmengine at '
        '1x3x32x32. Wall time: training per seed on this machine.', '',
        '| model | MFLOPs | FLOPs ratio | params (M) | top-1 (%) mean ± std | wall time (s) |',
        '| --- | --- | --- | --- | --- | --- |',
    ]
    for key in ('supernet', 'uniform', 'dms'):
        f, p = flops[key]
        mean, spread = mean_spread(rows[key]['top1'])
        seconds = statistics.mean(rows[key]['seconds'])
        lines.append(f'| {names[key]} | {f / 1e6:.3f} | {f / supernet_flops:.3f} | '
                     f'{p / 1e6:.3f} | {mean:.2f} ± {spread:.2f} | {seconds:.0f} |')
    d_mean, d_spread = mean_spread(rows['dms']['top1'])
    u_mean, u_spread = mean_spread(rows['uniform']['top1'])
    diffs = [d - u for d, u in zip(rows['dms']['top1'], rows['uniform']['top1'])]
    verdict = ('DMS beats uniform scaling' if min(diffs) > 0 and d_mean - u_mean > d_spread +
               u_spread else 'DMS does not clearly beat uniform scaling here')
    lines += [
        '', f'Per seed top-1: DMS {rows["dms"]["top1"]}, uniform {rows["uniform"]["top1"]}, '
        f'supernet {rows["supernet"]["top1"]}.', '',
        f'**{verdict}**: mean difference {d_mean - u_mean:+.2f} points (per seed '
        f'{", ".join(f"{d:+.2f}" for d in diffs)}), against spreads of {d_spread:.2f} (DMS) '
        f'and {u_spread:.2f} (uniform).', '',
        'Pictures: `structure.png` (kept width per channel unit and kept blocks per stage of '
        'the first seed\'s search), `search_curve.png` (soft FLOPs ratio against the target, '
        'and the task loss, over the search).', '',
        f'Reproduce: `python tools/dms_demo.py --target {args.target} --seeds '
        f'{" ".join(map(str, args.seeds))} --epochs {args.epochs}`.',
    ]
    with open(osp.join(work, 'report.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines[4:4 + 5]), flush=True)


if __name__ == '__main__':
    main()
