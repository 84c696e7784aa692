"""(b) Search overhead: one DMS search iteration against one plain training
iteration of the same model and batch, measured side by side in one process.

    python benchmarks/bench_overhead.py --size 224 --batch 8 --iters 5
"""
import argparse
import json
import time

import torch


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
    args = parser.parse_args()
    from mmpretrain.structures import DataSample

    import dms_mm  # noqa: F401

    torch.manual_seed(0)
    plain, algorithm = build(args.size)
    inputs = torch.rand(args.batch, 3, args.size, args.size)
    samples = [DataSample().set_gt_label(i % 1000) for i in range(args.batch)]
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
    print(json.dumps(dict(size=args.size, batch=args.batch, plain_s=t_plain, dms_s=t_dms,
                          ratio=t_dms / t_plain, **{f'{k}_s': v for k, v in parts.items()})))


if __name__ == '__main__':
    main()
