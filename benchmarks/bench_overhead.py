"""(b) Search overhead: one DMS search iteration against one plain training
iteration of the same model and batch, measured side by side in one process.

The model, its batch size and its input size come from a DMS search config
(``--config``, or ``--model`` for the shipped ones); the plain model is the
config's architecture, the DMS one the config's ``DMSAlgorithm``, at a search
target of 0.8. ``--at R`` first ranks every unit's elements at random and scales
the keep ratios so that the structure holds a fraction R of the FLOPs, as late
in a search (with R = 1, the default, every mask is 1, as at its start).

    python benchmarks/bench_overhead.py --model efficientnet-b0 --iters 3
    python benchmarks/bench_overhead.py --model resnet18-w16 --batch 64 --at 0.25
    python benchmarks/bench_overhead.py --config configs/dms/deit/dms_deit-tiny_search_in1k.py

It prints one JSON line: the median time of each step, their ratio, and where
the DMS step's extra time goes (masks, resource count with its backward,
importance update), each measured alone. ``--channels-last`` times both steps
a second time with the models channels-last (as ``ChannelsLastHook`` runs
them), in turn with the NCHW ones, and adds each ratio NHWC / NCHW.
"""
import argparse
import copy
import json
import os.path as osp
import sys
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

#: the shipped search configs the benchmark knows by name
MODELS = {
    'efficientnet-b0': 'configs/dms/efficientnet/dms_efficientnet-b0_search_in1k.py',
    'deit-t': 'configs/dms/deit/dms_deit-tiny_search_in1k.py',
    'yolox-s': 'configs/dms/yolox/dms_yolox-s_search_coco.py',
    # the glyphs supernet of benchmarks/compare.py
    'resnet18-w16': 'configs/dms/resnet/dms_resnet18-w16_search_glyphs.py',
}


def build(config: str, size: int):
    """The plain architecture and the DMS algorithm of a search config."""
    from mmengine.config import Config
    from mmrazor.registry import MODELS as RAZOR_MODELS

    from benchmarks.subnets import build_architecture

    cfg = Config.fromfile(config if osp.isabs(config) else osp.join(ROOT, config))
    demo = list(cfg.model.mutator.parse_cfg.demo_input)
    if size:
        demo[-2:] = [size, size]
    cfg.model.mutator.parse_cfg.demo_input = tuple(demo)
    algorithm = RAZOR_MODELS.build(cfg.model)
    algorithm.set_search_state('search', 0.8)
    return cfg, build_architecture(cfg), algorithm, tuple(demo[-2:])


def fake_batch(model, batch: int, hw):
    """Random images and the labels the model's loss needs (classes, or a few
    boxes per image for a detector)."""
    inputs = torch.rand(batch, 3, *hw)
    head = getattr(model, 'head', None) or getattr(model, 'bbox_head')
    classes = head.num_classes
    if hasattr(model, 'bbox_head'):
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData

        samples = []
        generator = torch.Generator().manual_seed(0)
        for i in range(batch):
            centre = torch.rand(4, 2, generator=generator) * torch.tensor(hw[::-1]) * 0.8 + 20
            half = torch.rand(4, 2, generator=generator) * 40 + 8
            sample = DetDataSample(metainfo=dict(img_shape=hw, pad_shape=hw,
                                                 batch_input_shape=hw, scale_factor=(1., 1.)))
            sample.gt_instances = InstanceData(
                bboxes=torch.cat([centre - half, centre + half], dim=1),
                labels=torch.arange(4) % classes)
            samples.append(sample)
        return inputs, samples
    from mmpretrain.structures import DataSample

    return inputs, [DataSample().set_gt_label(i % classes) for i in range(batch)]


def time_steps(steps, iters):
    """Median time of each of ``steps``, run in turn ``iters`` times after one
    warm-up each, so that a drift of the machine's speed hits all alike."""
    for step in steps:
        step()  # warm-up
    times = [[] for _ in steps]
    for _ in range(iters):
        for step, record in zip(steps, times):
            start = time.perf_counter()
            step()
            record.append(time.perf_counter() - start)
    return [sorted(record)[len(record) // 2] for record in times]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--model', choices=sorted(MODELS), default='efficientnet-b0')
    parser.add_argument('--config', help='a DMS search config (instead of --model)')
    parser.add_argument('--size', type=int, default=0,
                        help='input size (default: the mutator demo input of the config)')
    parser.add_argument('--batch', type=int, default=0,
                        help='batch size (default: the config\'s train_dataloader)')
    parser.add_argument('--iters', type=int, default=5)
    parser.add_argument('--channels-last', action='store_true',
                        help='also time both steps with the models channels-last (what '
                        'ChannelsLastHook does), side by side with the NCHW ones')
    parser.add_argument('--bf16', action='store_true',
                        help='also time both steps under CPU autocast in bfloat16 (what '
                        '`--amp` does on a CPU), side by side, in the layout of the last '
                        'pair (channels-last with --channels-last)')
    parser.add_argument('--at', type=float, default=1.0,
                        help='FLOPs ratio of the structure the search holds (1: its start)')
    args = parser.parse_args()

    import dms_mm  # noqa: F401
    from dms_mm.structures import scale_to_target

    torch.manual_seed(0)
    config = args.config or MODELS[args.model]
    cfg, plain, algorithm, hw = build(config, args.size)
    batch = args.batch or cfg.train_dataloader.batch_size
    mutator = algorithm.mutator
    if args.at < 1.0:
        with torch.no_grad():
            for mutable in mutator.dms_mutables():
                mutable.importance.copy_(torch.rand(mutable.num_elements))
            scale_to_target(mutator, args.at)
    plain.train()
    algorithm.train()
    inputs, samples = fake_batch(plain, batch, hw)
    models = [plain, algorithm]
    if args.channels_last:  # copies taken before any step (a step caches masks)
        from dms_mm.engine.hooks.channels_last_hook import to_channels_last
        models += [copy.deepcopy(plain), copy.deepcopy(algorithm)]
        to_channels_last(models[2])
        to_channels_last(models[3])

    def train_step(model, bf16=False):
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

        def step():
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
                losses = model(inputs, samples, mode='loss')
            optimizer.zero_grad()
            sum(v for k, v in losses.items() if 'loss' in k).backward()
            optimizer.step()
            if hasattr(model, 'mutator'):
                model.mutator.update_importance()
                model.mutator.clamp_()
        return step

    def alone(step, repeat=10):
        start = time.perf_counter()
        for _ in range(repeat):
            step()
        return (time.perf_counter() - start) / repeat

    steps = [train_step(model) for model in models]
    if args.bf16:  # the same two models (the last pair) in bfloat16
        steps += [train_step(models[-2], True), train_step(models[-1], True)]
    times = time_steps(steps, args.iters)
    t_plain, t_dms = times[:2]
    layout = {}
    if args.channels_last:
        layout = dict(plain_nhwc_s=times[2], dms_nhwc_s=times[3],
                      plain_nhwc_ratio=times[2] / t_plain, dms_nhwc_ratio=times[3] / t_dms)
    if args.bf16:
        fp32 = times[len(models) - 2:len(models)]
        layout.update(plain_bf16_s=times[-2], dms_bf16_s=times[-1],
                      plain_bf16_ratio=times[-2] / fp32[0], dms_bf16_ratio=times[-1] / fp32[1],
                      dms_bf16_over_plain_bf16=times[-1] / times[-2])
    kind = algorithm.target_kind
    parts = dict(
        masks=alone(lambda: mutator.refresh_masks('track')),
        resources=alone(lambda: mutator.soft_resources(grad=(kind, ))[kind].backward()),
        importance=alone(lambda: (mutator.update_importance(), mutator.clamp_())))
    print(json.dumps(dict(config=config, at=args.at, size=list(hw), batch=batch,
                          threads=torch.get_num_threads(), plain_s=t_plain, dms_s=t_dms,
                          ratio=t_dms / t_plain, **{f'{k}_s': v for k, v in parts.items()},
                          **layout)))


if __name__ == '__main__':
    main()
