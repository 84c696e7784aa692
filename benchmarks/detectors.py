"""YOLOv8-n, YOLOX-tiny and RTMDet-tiny searched by DMS to the same FLOPs.

Each detector is searched on the generated shapes set (``data/shapes_coco``, 128x128)
with its own tiny search config under ``configs/dms/``, which keeps that family's own
recipe (YOLOv8: mmyolo's SGD grouping, YOLOv5ParamSchedulerHook, Mosaic then the plain
last epoch; YOLOX: SGD with the quadratic warm-up, Mosaic/RandomAffine then the L1
loss; RTMDet: AdamW, CachedMosaic/CachedMixUp then the stage-2 pipeline). The one
change is the target: an absolute ``model.target_flops`` (``--target-mflops``, the same
for all) in place of each config's ratio. The export is then retrained with the
family's retrain config from the searched weights, so every detector gets the same
budget: 12 search epochs and 12 retrain epochs over the same 512 images. bbox mAP is
CocoMetric's on the val split after the retrain (and at the end of the search);
FLOPs are mmengine's count of each exported static model.

Every run goes through ``tools/train.py``; its record lands in
``WORK_DIR/runs.jsonl`` as soon as it ends and a second call skips what is recorded.

Example::

    python benchmarks/detectors.py --seeds 0 1 2 --results benchmarks/RESULTS.md
"""
import argparse
import datetime
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from typing import Dict, List

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.compare import (  # noqa: E402
    Comparison,
    RunFailed,
    machine,
    mean_std,
    publish,
    run_tool,
)

DETECTORS = dict(
    yolov8=dict(name='YOLOv8-n', family='configs/dms/yolov8/dms_yolov8-n_{}_shapes.py'),
    yolox=dict(name='YOLOX-tiny', family='configs/dms/yolox/dms_yolox-tiny_{}_shapes.py'),
    rtmdet=dict(name='RTMDet-tiny', family='configs/dms/rtmdet/dms_rtmdet-tiny_{}_shapes.py'),
)


def last_bbox_map(output: str) -> float:
    """The last bbox mAP that a run's validation printed."""
    found = re.findall(r'Epoch\(val\).*coco/bbox_mAP: ([\d.]+)', output)
    if not found:
        raise RunFailed('no bbox mAP in the output')
    return float(found[-1])


def search_args(detector: str, work_dir: str, target_flops: float, seed: int) -> List[str]:
    """``tools/train.py`` arguments of one detector's search to ``target_flops``."""
    return ['tools/train.py', DETECTORS[detector]['family'].format('search'),
            '--work-dir', work_dir, '--cfg-options', 'model.target_flops_ratio=None',
            f'model.target_flops={target_flops:.0f}', f'randomness.seed={seed}']


def retrain_args(detector: str, search_dir: str, work_dir: str, seed: int) -> List[str]:
    """``tools/train.py`` arguments of the retrain of the export in ``search_dir``."""
    export = osp.join(search_dir, 'dms_export')
    return ['tools/train.py', DETECTORS[detector]['family'].format('retrain'),
            '--work-dir', work_dir, '--cfg-options',
            f'model.subnet={osp.join(export, "subnet.json")}',
            f'model.checkpoint={osp.join(export, "pruned.pth")}', f'randomness.seed={seed}']


def record_key(detector: str, target_flops: float, seed: int) -> str:
    return f'{detector}|{target_flops:.0f}|{seed}'


def load_records(path: str) -> Dict[str, Dict]:
    records = {}
    if osp.exists(path):
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                records[record['key']] = record
    return records


def run_one(detector: str, seed: int, work_dir: str, target_flops: float) -> Dict:
    """Search, export and retrain one detector at one seed; its record."""
    tag = osp.join(work_dir, f'{detector}_seed{seed}')
    search_dir, retrain_dir = osp.join(tag, 'search'), osp.join(tag, 'retrain')
    start = time.time()
    searched = run_tool(search_args(detector, search_dir, target_flops, seed),
                        osp.join(tag, 'search.log'))
    search_minutes = (time.time() - start) / 60
    start = time.time()
    retrained = run_tool(retrain_args(detector, search_dir, retrain_dir, seed),
                         osp.join(tag, 'retrain.log'))
    structure = Comparison.structure_fields(osp.join(search_dir, 'dms_export'))
    return dict(detector=detector, seed=seed, search_map=last_bbox_map(searched),
                bbox_map=last_bbox_map(retrained), search_minutes=search_minutes,
                retrain_minutes=(time.time() - start) / 60,
                supernet_params=_supernet_params(search_dir), **structure)


def _supernet_params(search_dir: str) -> float:
    with open(osp.join(search_dir, 'dms_export', 'subnet.json')) as f:
        return json.load(f)['resources']['counted_supernet_params']


def report(records: Dict[str, Dict], detectors: List[str], seeds: List[int],
           target_flops: float, command: str) -> str:
    """The markdown section of the recorded runs: mean and spread over seeds."""
    lines = [f'## {datetime.date.today()}: `{command}`', '',
             f'{machine()}. DMS target: {target_flops / 1e6:.1f} MFLOPs at 128x128 for '
             f'every detector; each its own recipe, 12 search + 12 retrain epochs on the '
             f'shapes set (512 train images). Mean ± standard deviation over seeds '
             f'{", ".join(map(str, seeds))}; FLOPs and params by mmengine on the export.', '',
             '| detector | supernet MFLOPs / M params | export MFLOPs | ratio of its '
             'supernet | export M params | bbox mAP after search | bbox mAP after retrain '
             '| per seed | minutes (search + retrain) |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    failures = []
    for detector in detectors:
        runs = [records.get(record_key(detector, target_flops, seed)) for seed in seeds]
        failed = [r for r in runs if r is not None and 'error' in r]
        failures += [f'- {DETECTORS[detector]["name"]} seed {r["seed"]}: {r["error"]}'
                     for r in failed]
        runs = [r for r in runs if r is not None and 'error' not in r]
        if not runs:
            continue

        def stat(field, scale=1.0, digits=3, runs=runs):
            mean, std = mean_std([r[field] * scale for r in runs])
            return f'{mean:.{digits}f} ± {std:.{digits}f}'

        first = runs[0]
        per_seed = ' '.join(f'{r["bbox_map"]:.3f}' for r in runs)
        lines.append(
            f'| {DETECTORS[detector]["name"]} | {first["supernet_flops"] / 1e6:.1f} / '
            f'{first["supernet_params"] / 1e6:.3f} | {stat("flops", 1e-6, 1)} | '
            f'{stat("flops_ratio")} | {stat("params", 1e-6)} | {stat("search_map")} | '
            f'**{stat("bbox_map")}** | {per_seed} | '
            f'{stat("search_minutes", digits=1)} + {stat("retrain_minutes", digits=1)} |')
    lines.append('')
    if failures:
        lines += ['Runs that failed:', *failures, '']
    lines += ['Structures (first seed): kept/total blocks of each searched stage', '']
    for detector in detectors:
        run = records.get(record_key(detector, target_flops, seeds[0]))
        if run and 'error' not in run:
            kept = sum(k for k, _ in run['widths'])
            total = sum(n for _, n in run['widths'])
            blocks = ', '.join(f'{k}/{n}' for k, n in run['blocks'])
            lines.append(f'- {DETECTORS[detector]["name"]}: blocks {blocks}; '
                         f'{kept} of {total} channels in {len(run["widths"])} units')
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--detectors', nargs='+', choices=sorted(DETECTORS),
                        default=list(DETECTORS))
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--target-mflops', type=float, default=80.0,
                        help='the FLOPs every search ends at, in millions at 128x128 '
                        '(80: about half of YOLOv8-n, a quarter of YOLOX-tiny and '
                        'RTMDet-tiny)')
    parser.add_argument('--work-dir', default='work_dirs/detectors')
    parser.add_argument('--results', help='append the report to this markdown file')
    parser.add_argument('--report-only', action='store_true')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    target = args.target_mflops * 1e6
    args.work_dir = osp.abspath(args.work_dir)
    os.makedirs(args.work_dir, exist_ok=True)
    records_path = osp.join(args.work_dir, 'runs.jsonl')
    records = load_records(records_path)
    if not args.report_only:
        todo = [(d, s) for s in args.seeds for d in args.detectors
                if 'error' in records.get(record_key(d, target, s), {'error': 'not run'})]
        start = time.time()
        for i, (detector, seed) in enumerate(todo):
            try:
                record = run_one(detector, seed, args.work_dir, target)
            except (RunFailed, subprocess.SubprocessError, OSError, KeyError) as err:
                record = dict(detector=detector, seed=seed, error=str(err).splitlines()[0])
            record = dict(key=record_key(detector, target, seed), target_flops=target, **record)
            records[record['key']] = record
            with open(records_path, 'a') as f:
                f.write(json.dumps(record) + '\n')
            print(f'[{i + 1}/{len(todo)}] {(time.time() - start) / 60:.1f} min  {detector} '
                  f'seed {seed}: ' + (record.get('error') or
                                      f'{record["flops"] / 1e6:.1f} MFLOPs, '
                                      f'bbox mAP {record["bbox_map"]:.3f}'), flush=True)
    command = 'python benchmarks/detectors.py ' + ' '.join(argv or sys.argv[1:])
    text = report(records, args.detectors, args.seeds, target, command.strip())
    publish(text, args.work_dir, args.results)


if __name__ == '__main__':
    main()
