"""Twins (PCPVT, SVT): the spatial-reduction and locally grouped attentions,
the position encoding, the streams and the depth, exported exactly."""
import copy

import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS

from dms_mm.dynamic_ops.twins_attention import (
    PrunedGlobalSubsampledAttention,
    PrunedLocallyGroupedSelfAttention,
)
from dms_mm.mutators import DMSMutator
from dms_mm.structures import count_static, to_static
from dms_test_utils import hard_outputs, randomize_structure

#: small Twins: 3 stages of 2 layers; SVT's windows of 4 do not tile the 6x6 map of
#: stage 1 (padding), and stage 0's reduction ratio 4 shrinks its k/v tokens
ARCH = dict(embed_dims=[16, 32, 64], depths=[2, 2, 2], num_heads=[1, 2, 4],
            patch_sizes=[4, 2, 2], strides=[4, 2, 2], mlp_ratios=[2, 2, 2],
            sr_ratios=[4, 2, 1])


def twins_dms(kind):
    arch = dict(ARCH, window_sizes=[4, 4, 4]) if kind == 'SVT' else ARCH
    cfg = dict(type='ImageClassifier',
               backbone=dict(type=kind, arch=arch, out_indices=(2, )),
               neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=10, in_channels=64))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = PRETRAIN_MODELS.build(cfg)
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 48, 48),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    return model, mutator


@pytest.fixture(scope='module', params=['PCPVT', 'SVT'])
def searched(request):
    return request.param, twins_dms(request.param)


def test_twins_streams_attentions_and_depth_are_searched(searched):
    kind, (_, mutator) = searched
    assert mutator.excluded_units == {} and mutator.untraced_parts == {}
    # a stream per stage (with its position encoding), an MLP width per layer,
    # and GSA's reduced tokens where its ratio is above 1
    reduced = 4 if kind == 'PCPVT' else 2  # SVT: every other layer is an LSA
    assert len(mutator.searchable_units) == 3 + 6 + reduced
    stream = next(u for u in mutator.units if any(
        c.name == 'backbone.position_encodings.0.proj' for c in u.output_related))
    members = {c.name for c in list(stream.input_related) + list(stream.output_related)}
    assert {'backbone.patch_embeds.0.projection', 'backbone.stages.0.1.attn.proj',
            'backbone.stages.0.1.ffn.layers.1', 'backbone.patch_embeds.1.projection'} <= members
    assert len(mutator.attentions) == 6
    # the position encoding runs after the first layer of a stage: that one stays
    assert mutator.stage_names == [f'backbone.stages.{s}' for s in range(3)]
    assert all(s.num_blocks == 1 for s in mutator.stages)
    report = {b.name: b for stage in mutator.stage_report for b in stage.blocks}
    first = report['backbone.stages.1.0']
    assert not first.removable
    assert 'position_encodings.1 runs between blocks 0 and 1' in first.reason


@pytest.mark.parametrize('seed', [0, 1])
def test_twins_static_model_equals_the_searched_one_and_its_counts(searched, seed):
    kind, pair = searched
    model, mutator = copy.deepcopy(pair)
    randomize_structure(mutator, seed=seed)
    model.eval()
    static = to_static(model, mutator).eval()
    x = torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(seed))
    expected, got = hard_outputs(model, mutator, static, x, mode='tensor')
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    soft = mutator.soft_resources()
    flops, params = count_static(static, (1, 3, 48, 48))
    assert soft['params'].item() == params
    assert soft['flops'].item() == pytest.approx(flops, rel=1e-3)
    pruned = {PrunedGlobalSubsampledAttention, PrunedLocallyGroupedSelfAttention}
    attentions = [m for m in static.modules() if type(m) in pruned]
    assert len(attentions) == sum(len(stage) for stage in static.backbone.stages)
    if kind == 'PCPVT':
        gsa = static.backbone.stages[0][0].attn
        # its reduced tokens have a width of their own
        assert gsa.sr.out_channels == gsa.norm.normalized_shape[0] == gsa.kv.in_features
