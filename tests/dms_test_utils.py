"""Shared test helpers: small OpenMMLab models under DMS, their pruned copies, and
CPU process groups (gloo) for the distributed tests."""
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.analysis import FlopAnalyzer
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS

import dms_mm  # noqa: F401
from dms_mm.mutators import DMSMutator
from dms_mm.structures import to_static

BACKBONES = {
    'efficientnet-b0': (dict(type='EfficientNet', arch='b0'), 1280),
    'resnet18': (dict(type='ResNet', depth=18), 512),
    'resnet50': (dict(type='ResNet', depth=50), 2048),
    'mobilenet-v2': (dict(type='MobileNetV2', widen_factor=0.5), 1280),
}
#: a small DeiT: 3 layers of 3 heads of 16 dims, MLP 96, 8x8 patches of a 32x32 image
VIT_ARCH = dict(embed_dims=48, num_layers=3, num_heads=3, feedforward_channels=96)


def classifier_config(name, num_classes=10):
    """The mmpretrain ImageClassifier config of a test model (with its scope)."""
    if name == 'deit':
        return dict(_scope_='mmpretrain', type='ImageClassifier',
                    backbone=dict(type='VisionTransformer', arch=VIT_ARCH, img_size=32,
                                  patch_size=8),
                    neck=None,
                    head=dict(type='VisionTransformerClsHead', num_classes=num_classes,
                              in_channels=VIT_ARCH['embed_dims']))
    backbone, channels = BACKBONES[name]
    return dict(_scope_='mmpretrain', type='ImageClassifier', backbone=backbone,
                neck=dict(type='GlobalAveragePooling'),
                head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=channels))


def build_classifier(name, num_classes=10):
    cfg = classifier_config(name, num_classes)
    cfg.pop('_scope_')
    # a scope for this build only: other tests build from mmrazor's registries
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return PRETRAIN_MODELS.build(cfg)


def dms_model(name, size=32, **mutator_kwargs):
    model = build_classifier(name)
    mutator = DMSMutator(
        parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, size, size),
                       tracer_type='FxTracer'), **mutator_kwargs)
    mutator.prepare_from_supernet(model)
    return model, mutator


def randomize_structure(mutator, seed=0, low=0.2):
    """Random importances and keep ratios, for units and stages."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mutable in mutator.dms_mutables():
            if mutable.frozen:
                continue
            mutable.importance.copy_(torch.rand(mutable.num_elements, generator=gen))
            mutable.keep_ratio.fill_(low + (1 - low) * float(torch.rand(1, generator=gen)))
        mutator.clamp_()


def hard_outputs(model, mutator, static, *inputs, **kwargs):
    """The outputs of the searched model under its hard masks and of its static
    model, on the same inputs."""
    mutator.refresh_masks('hard')
    try:
        with torch.no_grad():
            return model(*inputs, **kwargs), static(*inputs, **kwargs)
    finally:
        mutator.clear_masks()


def pruned_copy(model, mutator):
    """The static model under the mutator's hard choices (dms_mm's export path)."""
    return to_static(model, mutator).eval()


def mmengine_flops(model, size=32):
    analyzer = FlopAnalyzer(model.eval(), (torch.rand(1, 3, size, size), ))
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return analyzer.total(), analyzer.by_operator()


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _gloo_entry(rank, worker, world_size, port, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        worker(rank, world_size, out_dir)
    finally:
        dist.destroy_process_group()
    # Leave without the interpreter's teardown: gloo's threads sometimes abort it
    # ("terminate called without an active exception", SIGABRT) after all work is
    # done and written. Reached only when the worker succeeded.
    os._exit(0)


def spawn_gloo(worker, world_size, out_dir):
    """Run ``worker(rank, world_size, out_dir)`` in ``world_size`` CPU processes
    that form one gloo process group; raises if any of them fails."""
    mp.spawn(_gloo_entry, args=(worker, world_size, free_port(), str(out_dir)),
             nprocs=world_size, join=True)
