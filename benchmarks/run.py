"""Run the dms_mm benchmarks side by side and print one table per benchmark.

    python benchmarks/run.py            # the full set (about 15 minutes on 2 cores)
    python benchmarks/run.py --quick    # a small version of every benchmark (< 5 minutes)

(a) the top-k operator against a naive O(N^2) rank; (b) the search overhead
against plain training; (c) exported FLOPs against the target; (d) CPU latency
of the exported models against the supernet. The tables are appended to
benchmarks/RESULTS.md with the command, the machine and the date.
"""
import argparse
import datetime
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
SEARCH = 'configs/dms/efficientnet/dms_efficientnet-b0_search_digits.py'


def _json_run(cmd):
    proc = subprocess.run([sys.executable] + cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f'{" ".join(cmd)} failed:\n{proc.stderr[-3000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_topk(quick):
    sizes = [64, 1024, 4096, 11008]
    rows = ['| N | ours: ms | ours: peak MB | naive O(N^2): ms | naive: peak MB | same mask |',
            '| --- | --- | --- | --- | --- | --- |']
    for n in sizes:
        repeats = ['--repeats', '5' if quick else '20']
        ours = _json_run(['benchmarks/bench_topk.py', '--impl', 'ours', '--n', str(n), *repeats])
        naive = _json_run(['benchmarks/bench_topk.py', '--impl', 'naive', '--n', str(n),
                           *repeats])
        rows.append(f'| {n} | {ours["ms"]:.3f} | {ours["peak_mb"]:.1f} | {naive["ms"]:.3f} | '
                    f'{naive["peak_mb"]:.1f} | {ours["same_mask"] and naive["same_mask"]} |')
    return '(a) top-k forward + backward, median time and peak memory added', rows


#: (name, --model of bench_overhead.py, the quick run's batch); the full run
#: uses the batch size of each config
OVERHEAD_MODELS = (('EfficientNet-B0', 'efficientnet-b0', 4), ('DeiT-T', 'deit-t', 4),
                   ('YOLOX-s', 'yolox-s', 1))


def bench_overhead(quick):
    rows = ['| model | input | batch | plain step (s) | DMS step (s) | ratio | masks (s) | '
            'soft counts fwd+bwd (s) | importance (s) |',
            '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for name, model, quick_batch in OVERHEAD_MODELS:
        args = ['--model', model, '--iters', '3' if quick else '5']
        if quick:
            args += ['--batch', str(quick_batch)]
        r = _json_run(['benchmarks/bench_overhead.py', *args])
        rows.append(f'| {name} | {"x".join(map(str, r["size"]))} | {r["batch"]} | '
                    f'{r["plain_s"]:.3f} | {r["dms_s"]:.3f} | {r["ratio"]:.2f}x | '
                    f'{r["masks_s"]:.4f} | {r["resources_s"]:.4f} | {r["importance_s"]:.4f} |')
    batches = 'quick batches' if quick else "each config's batch size"
    return f'(b) search overhead on the CPU, at the start of a search ({batches})', rows


def latency(model, shape, iters):
    import torch

    model.eval()
    x = torch.rand(*shape)
    with torch.no_grad():
        model(x)
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    times.sort()
    return 1000 * times[len(times) // 2]


def bench_targets(quick, tmp):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmrazor.registry import MODELS

    import dms_mm  # noqa: F401

    cfg = Config.fromfile(osp.join(ROOT, SEARCH))
    arch = dict(cfg.model.architecture)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        supernet = MODELS.build(arch)
    iters = 5 if quick else 20
    base = {s: latency(supernet, s, iters) for s in ((1, 3, 224, 224), (32, 3, 32, 32))}
    rows_c = ['| target | exported FLOPs ratio (mmengine) | error | soft ratio at export |',
              '| --- | --- | --- | --- |']
    rows_d = ['| model | FLOPs ratio | params (M) | latency 1x3x224x224 (ms) | '
              'latency 32x3x32x32 (ms) |', '| --- | --- | --- | --- | --- |',
              f'| supernet | 1.000 | {sum(p.numel() for p in supernet.parameters()) / 1e6:.3f} | '
              f'{base[(1, 3, 224, 224)]:.1f} | {base[(32, 3, 32, 32)]:.1f} |']
    epochs = 4 if quick else 12
    for target in (0.3, 0.5, 0.7):
        work = osp.join(tmp, f'target{target}')
        proc = subprocess.run(
            [sys.executable, 'tools/train.py', SEARCH, '--work-dir', work, '--cfg-options',
             f'model.target_flops_ratio={target}', f'train_cfg.max_epochs={epochs}',
             f'train_cfg.val_interval={epochs}'], cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(proc.stdout[-3000:] + proc.stderr[-3000:])
        with open(osp.join(work, 'dms_export', 'subnet.json')) as f:
            res = json.load(f)['resources']
        ratio = res['static_flops'] / res['counted_supernet_flops']
        soft = res['soft_flops'] / res['supernet_flops']
        rows_c.append(f'| {target} | {ratio:.4f} | {100 * (ratio / target - 1):+.2f} % | '
                      f'{soft:.4f} |')
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            static = MODELS.build(dict(
                _scope_='mmrazor', type='DMSSubModel', architecture=arch,
                subnet=osp.join(work, 'dms_export', 'subnet.json'),
                checkpoint=osp.join(work, 'dms_export', 'pruned.pth')))
        rows_d.append(f'| DMS, target {target} | {ratio:.3f} | '
                      f'{res["static_params"] / 1e6:.3f} | '
                      f'{latency(static, (1, 3, 224, 224), iters):.1f} | '
                      f'{latency(static, (32, 3, 32, 32), iters):.1f} |')
    return [(f'(c) exported FLOPs against the target (digits search, {epochs} epochs)', rows_c),
            ('(d) CPU latency of the exported models (median)', rows_d)]


def main():
    parser = argparse.ArgumentParser(description='dms_mm benchmarks')
    parser.add_argument('--quick', action='store_true', help='a small version of everything')
    parser.add_argument('--no-record', action='store_true',
                        help='do not append the tables to benchmarks/RESULTS.md')
    args = parser.parse_args()
    start = time.time()
    sections = []
    for name, fn in (('a', bench_topk), ('b', bench_overhead)):
        print(f'benchmark ({name}) ...', flush=True)
        sections.append(fn(args.quick))
    print('benchmarks (c) and (d) ...', flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        sections += bench_targets(args.quick, tmp)
    import torch

    header = [
        f'## {datetime.date.today().isoformat()}: `python benchmarks/run.py'
        f'{" --quick" if args.quick else ""}`', '',
        f'Machine: {platform.machine()}, {os.cpu_count()} CPU cores, '
        f'{platform.python_implementation()} {platform.python_version()}, torch '
        f'{torch.__version__}, {torch.get_num_threads()} threads; no GPU was used. '
        f'Total {time.time() - start:.0f} s.', '']
    text = header
    for title, rows in sections:
        text += [f'### {title}', ''] + rows + ['']
    print('\n'.join(text))
    if not args.no_record:
        with open(osp.join(ROOT, 'benchmarks', 'RESULTS.md'), 'a') as f:
            f.write('\n'.join(text) + '\n')


if __name__ == '__main__':
    main()
