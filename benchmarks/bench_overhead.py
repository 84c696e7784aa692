"""(b) Search overhead: one DMS search iteration against one plain training
iteration of the same model and batch, measured side by side in one process.

``--at R`` first ranks every unit's elements at random and scales the keep
ratios so that the structure holds a fraction R of the FLOPs, as late in a
search (with R = 1, the default, every mask is 1, as at its start).

    python benchmarks/bench_overhead.py --size 224 --batch 8 --iters 5
    python benchmarks/bench_overhead.py --model resnet18-w16 --size 32 --batch 64 --at 0.25
"""
import argparse
import json
import os.path as osp
import sys
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

# the glyphs supernet of benchmarks/compare.py, with its DMS search settings
RESNET18_W16_SEARCH = 'configs/dms/resnet/dms_resnet18-w16_search_glyphs.py'


def build_resnet18_w16(size):
    from mmengine.config import Config
    from mmrazor.registry import MODELS

    from benchmarks.subnets import build_architecture

    cfg = Config.fromfile(osp.join(ROOT, RESNET18_W16_SEARCH))
    cfg.model.mutator.parse_cfg.demo_input = (1, 3, size, size)
    algorithm = MODELS.build(cfg.model)
    algorithm.set_search_state('search', 0.8)
    return build_architecture(cfg), algorithm


def build(size):
    from mmengine.registry import DefaultScope
    from mmrazor.registry import MODELS

    arch = dict(_scope_='mmpretrain', type='ImageClassifier',
                backbone=dict(type='EfficientNet', arch='b0'),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(type='LinearClsHead', num_classes=1000, in_channels=1280))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        plain = MODELS.build(arch)
    algorithm = MODELS.build(dict(
        _scope_='mmrazor', type='DMSAlgorithm', architecture=arch, target_flops_ratio=0.5,
        mutator=dict(type='DMSMutator', parse_cfg=dict(
            type='ChannelAnalyzer', demo_input=(1, 3, size, size), tracer_type='FxTracer'))))
    algorithm.set_search_state('search', 0.8)
    return plain, algorithm


def time_steps(step, iters):
    step()  # warm-up
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--model', choices=('efficientnet-b0', 'resnet18-w16'),
                        default='efficientnet-b0')
    parser.add_argument('--at', type=float, default=1.0,
                        help='FLOPs ratio of the structure the search holds (1: its start)')
    args = parser.parse_args()
    from mmpretrain.structures import DataSample

    import dms_mm  # noqa: F401
    from dms_mm.structures import scale_to_target

    torch.manual_seed(0)
    plain, algorithm = (build if args.model == 'efficientnet-b0' else build_resnet18_w16)(
        args.size)
    classes = algorithm.architecture.head.num_classes
    if args.at < 1.0:
        with torch.no_grad():
            for mutable in algorithm.mutator.dms_mutables():
                mutable.importance.copy_(torch.rand(mutable.num_elements))
            scale_to_target(algorithm.mutator, args.at)
    inputs = torch.rand(args.batch, 3, args.size, args.size)
    samples = [DataSample().set_gt_label(i % classes) for i in range(args.batch)]
    opt_plain = torch.optim.SGD(plain.parameters(), lr=1e-3, momentum=0.9)
    opt_dms = torch.optim.SGD(algorithm.parameters(), lr=1e-3, momentum=0.9)

    def plain_step():
        losses = plain(inputs, samples, mode='loss')
        opt_plain.zero_grad()
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        opt_plain.step()

    parts = dict(masks=0.0, resources=0.0, importance=0.0)

    def dms_step():
        losses = algorithm(inputs, samples, mode='loss')
        opt_dms.zero_grad()
        sum(v for k, v in losses.items() if 'loss' in k).backward()
        opt_dms.step()
        start = time.perf_counter()
        algorithm.mutator.update_importance()
        algorithm.mutator.clamp_()
        parts['importance'] = time.perf_counter() - start

    t_plain = time_steps(plain_step, args.iters)
    t_dms = time_steps(dms_step, args.iters)
    start = time.perf_counter()
    for _ in range(10):
        algorithm.mutator.refresh_masks('track')
    parts['masks'] = (time.perf_counter() - start) / 10
    start = time.perf_counter()
    for _ in range(10):
        algorithm.mutator.soft_resources()['flops'].backward()
    parts['resources'] = (time.perf_counter() - start) / 10
    print(json.dumps(dict(model=args.model, at=args.at, size=args.size, batch=args.batch,
                          threads=torch.get_num_threads(), plain_s=t_plain, dms_s=t_dms,
                          ratio=t_dms / t_plain, **{f'{k}_s': v for k, v in parts.items()})))


if __name__ == '__main__':
    main()
