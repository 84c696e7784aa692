"""EVA-02 (rotary attention, SwiGLU MLP): the embedding, whole heads, both
halves of each SwiGLU hidden width and the depth, exported exactly."""
import copy

import pytest
import torch
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS

from dms_mm.mutators import DMSMutator
from dms_mm.structures import count_static, to_static
from dms_test_utils import hard_outputs, randomize_structure

#: 3 layers of 4 heads of 8 dims, SwiGLU hidden 48, 8x8 patches of a 32x32 image
ARCH = dict(embed_dims=32, num_layers=3, num_heads=4, feedforward_channels=48)


@pytest.fixture(scope='module', params=[False, True], ids=['plain', 'sub_ln'])
def searched(request):
    cfg = dict(type='ImageClassifier',
               backbone=dict(type='ViTEVA02', arch=ARCH, img_size=32, patch_size=8,
                             sub_ln=request.param),
               neck=None,
               head=dict(type='VisionTransformerClsHead', num_classes=10, in_channels=32))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = PRETRAIN_MODELS.build(cfg)
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 32, 32),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    return model, mutator


def test_eva02_searches_embedding_whole_heads_swiglu_widths_and_depth(searched):
    _, mutator = searched
    assert len(mutator.searchable_units) == 1 + ARCH['num_layers']
    assert mutator.excluded_units == {} and mutator.untraced_parts == {}
    hidden = next(u for u in mutator.units if u.name.startswith('backbone.layers.1.mlp.w12'))
    ranges = sorted((c.start, c.end) for c in hidden.output_related
                    if c.name == 'backbone.layers.1.mlp.w12')
    assert ranges == [(0, 48), (48, 96)]  # the gate and value halves, one channel each
    assert mutator.stage_names == ['backbone.layers']
    assert len(mutator.attentions) == ARCH['num_layers']
    # rotary embeddings turn dims by their position in the head: dims stay whole
    assert all(a.qk_dims.frozen and a.v_dims.frozen and not a.heads.frozen
               for a in mutator.attentions)
    assert 'backbone (ViTEVA02Family)' in mutator.summary()


@pytest.mark.parametrize('seed', [0, 1])
def test_eva02_static_model_equals_the_searched_one_and_its_counts(searched, seed):
    model, mutator = copy.deepcopy(searched)
    randomize_structure(mutator, seed=seed)
    model.eval()
    static = to_static(model, mutator).eval()
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    expected, got = hard_outputs(model, mutator, static, x, mode='tensor')
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    soft = mutator.soft_resources()
    flops, params = count_static(static, (1, 3, 32, 32))
    assert soft['params'].item() == params and soft['flops'].item() == flops
    kept_heads = [len(a.heads.kept_indices()) for a in mutator.attentions]
    layers = static.backbone.layers
    assert len(layers) == len(mutator.stages[0].kept_indices())
    kept = [kept_heads[i] for i in mutator.stages[0].kept_indices()]
    assert [layer.attn.num_heads for layer in layers] == kept
