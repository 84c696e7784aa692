"""The Swin Transformer family: streams, MLP widths, window-attention heads and
dims, and depth, exported exactly."""
import copy
import logging

import pytest
import torch
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS

from dms_mm.dynamic_ops.window_attention import PrunedWindowMSA
from dms_mm.mutators import DMSMutator
from dms_mm.structures import count_static, to_static
from dms_test_utils import hard_outputs, randomize_structure

#: a small Swin: 4 stages of 2, 2, 4 and 2 blocks, 2x2 windows on a 64x64 image
SWIN_ARCH = dict(embed_dims=32, depths=[2, 2, 4, 2], num_heads=[2, 4, 4, 8])


def swin_classifier(**backbone):
    cfg = dict(type='ImageClassifier',
               backbone=dict(dict(type='SwinTransformer', arch=SWIN_ARCH, img_size=64,
                                  window_size=2), **backbone),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=10, in_channels=256))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return PRETRAIN_MODELS.build(cfg)


def swin_dms(**backbone):
    model = swin_classifier(**backbone)
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 64, 64),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    return model, mutator


@pytest.fixture(scope='module')
def searched():
    return swin_dms()


def test_swin_streams_mlps_heads_and_depth_are_searched(searched):
    _, mutator = searched
    # a stream per stage and an MLP width per block; nothing left out or untraced
    assert len(mutator.searchable_units) == 4 + sum(SWIN_ARCH['depths'])
    assert mutator.excluded_units == {} and mutator.untraced_parts == {}
    assert mutator.stage_names == [f'backbone.stages.{s}.blocks' for s in range(4)]
    assert [s.num_blocks for s in mutator.stages] == SWIN_ARCH['depths']
    assert len(mutator.attention_names) == sum(SWIN_ARCH['depths'])
    assert mutator.attention_names[0] == 'backbone.stages.0.blocks.0.attn.w_msa'
    # the patch merging reads stage 0's stream four times over (its 2x2 neighbours)
    stream = next(u for u in mutator.units if any(
        c.name == 'backbone.patch_embed.projection' for c in u.output_related))
    merging = next(c for c in stream.input_related
                   if c.name == 'backbone.stages.0.downsample.reduction')
    assert (merging.end - merging.start) == 4 * stream.num_channels
    last = next(u for u in mutator.units
                if any(c.name == 'head.fc' for c in u.input_related))
    assert any(c.name == 'backbone.stages.2.downsample.reduction' for c in last.output_related)
    text = mutator.summary()
    assert 'backbone (SwinTransformerFamily)' in text
    assert '[searched] backbone.stages.3.blocks.1.attn.w_msa: heads 8/8' in text


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_swin_static_model_equals_the_searched_one_and_its_counts(searched, seed):
    model, mutator = copy.deepcopy(searched)
    randomize_structure(mutator, seed=seed)
    model.eval()
    static = to_static(model, mutator).eval()
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(seed))
    expected, got = hard_outputs(model, mutator, static, x, mode='tensor')
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    soft = mutator.soft_resources()
    flops, params = count_static(static, (1, 3, 64, 64))
    assert soft['params'].item() == params
    # the neck's average pooling is counted at full width (the summary says so)
    assert soft['flops'].item() == pytest.approx(flops, rel=1e-3)
    assert soft['flops'].item() < mutator.supernet_flops
    kept_blocks = [len(s.kept_indices()) for s in mutator.stages]
    assert [len(stage.blocks) for stage in static.backbone.stages] == kept_blocks


def test_swin_window_attention_keeps_its_heads_bias_columns(searched):
    model, mutator = copy.deepcopy(searched)
    name = 'backbone.stages.1.blocks.0.attn.w_msa'
    attention = mutator.attentions[mutator.attention_names.index(name)]
    table = model.get_submodule(name).relative_position_bias_table.detach().clone()
    with torch.no_grad():
        attention.heads.set_kept([0, 3])
        attention.qk_dims.set_kept([1, 2, 5])
    static = to_static(model.eval(), mutator)
    w_msa = static.backbone.stages[1].blocks[0].attn.w_msa
    assert type(w_msa) is PrunedWindowMSA
    assert (w_msa.num_heads, w_msa.qk_dims, w_msa.v_dims) == (2, 3, 16)
    torch.testing.assert_close(w_msa.relative_position_bias_table.detach(), table[:, [0, 3]])
    # the scale of the unpruned head dim (64 / 4 heads)
    assert w_msa.scale == pytest.approx(16**-0.5)
    # the bias table is counted per head
    soft = mutator.soft_resources()
    assert soft['params'].item() == count_static(static, (1, 3, 64, 64))[1]


def test_swin_with_several_outputs_is_left_to_the_generic_search_and_the_log_says_why():
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        model = swin_classifier(out_indices=(2, 3))
        mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 64, 64),
                                            tracer_type='FxTracer'))
        mutator.prepare_from_supernet(model)
    finally:
        logger.removeHandler(handler)
    assert mutator.family_roots == []
    assert any('out_indices=(2, 3)' in r.getMessage() and 'generic search' in r.getMessage()
               for r in records)
    # its depth is still searched, as before the family
    assert len(mutator.attentions) == 0 and len(mutator.stages) == 4
