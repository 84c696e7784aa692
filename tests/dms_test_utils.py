"""Shared test helpers: small OpenMMLab models under DMS, their pruned copies, and
CPU process groups (gloo) for the distributed tests."""
import contextlib
import logging
import os
import socket

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from mmengine.analysis import FlopAnalyzer
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS

import dms_mm  # noqa: F401
from benchmarks.subnets import randomize_structure  # noqa: F401  (one draw for tests and benchmarks)
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


@contextlib.contextmanager
def collect_logs():
    """Inside: the (level, message) of every record of mmengine's current
    logger, appended to the yielded list."""
    from mmengine.logging import MMLogger

    messages = []

    class _Collect(logging.Handler):

        def emit(self, record):
            messages.append((record.levelno, record.getMessage()))

    logger = MMLogger.get_current_instance()
    handler = _Collect()
    logger.addHandler(handler)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)


def resnet18_algorithm(**kwargs):
    """A DMSAlgorithm around mmpretrain's ResNet-18 (10 classes, 32x32 demo
    input); ``kwargs`` are its settings (a target among them)."""
    from mmrazor.registry import MODELS
    cfg = dict(
        _scope_='mmrazor',
        type='DMSAlgorithm',
        architecture=dict(
            _scope_='mmpretrain', type='ImageClassifier',
            backbone=dict(type='ResNet', depth=18), neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=512)),
        mutator=dict(type='DMSMutator', parse_cfg=dict(
            type='ChannelAnalyzer', demo_input=(1, 3, 32, 32), tracer_type='FxTracer')),
        data_preprocessor=dict(num_classes=10, mean=[0, 0, 0], std=[1, 1, 1]))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def classifier_batch(n=4):
    """``n`` random 32x32 images with labels 0..9, as a classifier's loss takes them."""
    from mmpretrain.structures import DataSample
    inputs = torch.rand(n, 3, 32, 32)
    samples = [DataSample().set_gt_label(i % 10) for i in range(n)]
    return inputs, samples


def growing_latency_table(table, unit=1e-4):
    """``table`` (a LatencyTable) with every layer's timings ``unit`` times a
    product of its widths, and no calibration: the tests that need an estimate
    to follow the structure, whatever a timing on a busy machine gave."""
    from dms_mm.resources import LatencyTable
    layers = {name: dict(layer, ms=[[unit * (c_in + 1) * (c_out + 1)
                                     for c_out in layer['out_channels']]
                                    for c_in in layer['in_channels']])
              for name, layer in table.layers.items()}
    meta = {k: v for k, v in table.meta.items() if k != 'calibration'}
    return LatencyTable(meta, layers)


def save_tiny_tokenizer(folder, text: str, vocab_size: int = 256) -> int:
    """Train a byte-level BPE on ``text`` and save it as a transformers
    tokenizer folder (what ``AutoTokenizer.from_pretrained`` reads); its
    vocabulary size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([text], trainers.BpeTrainer(vocab_size=vocab_size,
                                                        special_tokens=['<s>']))
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token='<s>').save_pretrained(str(folder))
    return tok.get_vocab_size()
