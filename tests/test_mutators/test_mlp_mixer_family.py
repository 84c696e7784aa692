"""MLP-Mixer: the embedding, the token- and channel-mixing hidden widths and the
depth, exported exactly; the token-mixing FLOPs scale with the kept embedding."""
import copy

import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS

from dms_mm.mutators import DMSMutator
from dms_mm.structures import count_static, to_static
from dms_test_utils import hard_outputs, randomize_structure

#: 3 layers, embedding 32, token MLP 12 over 16 tokens (8x8 patches of 32x32), channel MLP 64
ARCH = dict(embed_dims=32, num_layers=3, tokens_mlp_dims=12, channels_mlp_dims=64)


@pytest.fixture(scope='module')
def searched():
    cfg = dict(type='ImageClassifier',
               backbone=dict(type='MlpMixer', arch=ARCH, img_size=32, patch_size=8),
               neck=dict(type='GlobalAveragePooling', dim=1),
               head=dict(type='LinearClsHead', num_classes=10, in_channels=32))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = PRETRAIN_MODELS.build(cfg)
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 32, 32),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    return model, mutator


def test_mlp_mixer_searches_embedding_both_mlps_and_depth(searched):
    _, mutator = searched
    assert len(mutator.searchable_units) == 1 + 2 * ARCH['num_layers']
    assert mutator.excluded_units == {} and mutator.untraced_parts == {}
    token_mix = next(u for u in mutator.units
                     if u.name.startswith('backbone.layers.0.token_mix'))
    assert token_mix.num_channels == ARCH['tokens_mlp_dims']  # the tokens themselves stay
    embedding = next(u for u in mutator.units if u.name.startswith('backbone.patch_embed'))
    assert 'head.fc' in {c.name for c in embedding.input_related}
    assert mutator.stage_names == ['backbone.layers']


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_mlp_mixer_static_model_equals_the_searched_one_and_its_counts(searched, seed):
    model, mutator = copy.deepcopy(searched)
    randomize_structure(mutator, seed=seed)
    model.eval()
    static = to_static(model, mutator).eval()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    expected, got = hard_outputs(model, mutator, static, x, mode='tensor')
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    soft = mutator.soft_resources()
    flops, params = count_static(static, (1, 3, 32, 32))
    assert soft['params'].item() == params
    # the token-mixing linears run on one row per kept embedding channel
    assert soft['flops'].item() == pytest.approx(flops, rel=1e-6)
    assert len(static.backbone.layers) == len(mutator.stages[0].kept_indices())
    assert static.backbone.out_indices == [len(static.backbone.layers) - 1]
