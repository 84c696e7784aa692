"""Model families: mmpretrain's VisionTransformer (DeiT), and attention modules a
config declares."""
import copy

import pytest
import torch
from mmengine.model import BaseModel
from torch import nn

from dms_mm.dynamic_ops.attention import PrunedMultiheadAttention
from dms_mm.mutators import DMSMutator
from dms_mm.structures import count_static, to_static
from dms_test_utils import VIT_ARCH, dms_model, hard_outputs, randomize_structure


def test_deit_blocks_scaled_on_their_last_linears_equal_the_branch_hooks():
    """The depth mask of a ViT layer acts on ``attn.proj`` and the FFN's last
    linear (weight side); scaling the branch outputs instead gives the same
    outputs and the same gradients of the keep ratios at soft masks."""
    from dms_mm.dynamic_ops.depth import BranchScaleHook, IdentityBranchScaleHook

    model, mutator = dms_model('deit')
    randomize_structure(mutator, seed=3, low=0.3)
    layers = model.backbone.layers
    assert all(not layer.attn._forward_hooks and not layer.ffn._forward_hooks
               for layer in layers)
    hooked, hooked_mutator = copy.deepcopy((model, mutator))
    stage = hooked_mutator.stages[0]
    for index, layer in enumerate(hooked.backbone.layers):
        layer.attn.proj.output_mask_of = None
        layer.ffn.layers[1].output_mask_of = None
        layer.attn.register_forward_hook(BranchScaleHook(stage, index))
        layer.ffn.register_forward_hook(IdentityBranchScaleHook(stage, index),
                                        with_kwargs=True)
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    results = []
    for net, mut in ((model, mutator), (hooked, hooked_mutator)):
        net.train()
        mut.refresh_masks('soft')
        assert 0 < float(mut.stages[0].mask.min()) < 1  # soft somewhere
        out = net(x, mode='tensor')
        out.square().sum().backward()
        results.append((out.detach(), [m.keep_ratio.grad.clone() for m in mut.dms_mutables()
                                       if m.keep_ratio.grad is not None]))
    torch.testing.assert_close(results[0][0], results[1][0])
    assert len(results[0][1]) == len(results[1][1]) > 0
    for got, want in zip(results[0][1], results[1][1]):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)

def test_deit_units_stages_and_attentions_are_found():
    _, mutator = dms_model('deit')
    layers = VIT_ARCH['num_layers']
    names = [u.name for u in mutator.searchable_units]
    # one embedding unit and one MLP-hidden unit per layer
    assert len(names) == 1 + layers and mutator.excluded_units == {}
    embedding = next(u for u in mutator.units if u.name.startswith('backbone.patch_embed'))
    members = {c.name for c in list(embedding.input_related) + list(embedding.output_related)}
    assert {'head.layers.head', 'backbone.ln1', 'backbone.layers.2.attn.qkv',
            'backbone.layers.2.attn.proj', 'backbone.layers.0.ffn.layers.1'} <= members
    assert mutator.stage_names == ['backbone.layers']
    assert mutator.stages[0].num_blocks == layers
    assert mutator.attention_names == [f'backbone.layers.{i}.attn' for i in range(layers)]
    assert mutator.untraced_parts == {}
    text = mutator.summary()
    assert 'model families: backbone (VisionTransformerFamily)' in text
    assert '[searched] backbone.layers.0.attn: heads 3/3, q/k dims 16/16, v dims 16/16' in text


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_deit_static_model_equals_the_searched_one_and_its_counts(seed):
    model, mutator = dms_model('deit')
    randomize_structure(mutator, seed=seed)
    model.eval()
    static = to_static(model, mutator).eval()
    expected, got = hard_outputs(model, mutator, static, torch.rand(3, 3, 32, 32), mode='tensor')
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    soft = mutator.soft_resources()
    flops, params = count_static(static, (1, 3, 32, 32))
    assert soft['flops'].item() == flops and soft['params'].item() == params
    # the structure really changed
    kept_embed = static.backbone.cls_token.shape[-1]
    assert static.backbone.pos_embed.shape[-1] == kept_embed
    assert static.head.layers.head.in_features == kept_embed
    assert len(static.backbone.layers) == len(mutator.stages[0].kept_indices())


def test_pruned_attention_keeps_the_scale_of_the_unpruned_head_dim():
    model, mutator = dms_model('deit')
    with torch.no_grad():
        for attention in mutator.attentions:
            attention.qk_dims.set_kept([0, 3, 6, 9, 12])
            attention.heads.set_kept([1, 2])
    static = to_static(model, mutator)
    attn = static.backbone.layers[0].attn
    assert type(attn) is PrunedMultiheadAttention
    assert (attn.num_heads, attn.qk_dims, attn.v_dims) == (2, 5, 16)
    head_dims = VIT_ARCH['embed_dims'] // VIT_ARCH['num_heads']
    assert attn.scale == pytest.approx(head_dims**-0.5)


def test_heads_and_depth_freeze_in_refine_but_dims_go_on():
    _, mutator = dms_model('deit')
    mutator.freeze_depth()
    assert all(a.heads.frozen and not a.qk_dims.frozen for a in mutator.attentions)
    assert all(stage.frozen for stage in mutator.stages)


def test_heads_and_dims_get_importance_from_the_task_loss():
    model, mutator = dms_model('deit')
    model.train()
    mutator.refresh_masks('track')
    out = model(torch.rand(4, 3, 32, 32), mode='tensor')
    out.pow(2).mean().backward()
    updated = mutator.update_importance()
    assert updated == len(mutator.dms_mutables())
    assert all(float(m.importance.abs().sum()) > 0 for a in mutator.attentions
               for m in a.mutables())


class _MyAttention(nn.Module):
    """A user's attention: fused qkv laid out [3, heads, dim], output ``out``."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.dim = heads, dim
        self.to_qkv = nn.Linear(dim, dim * 3)
        self.out = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = self.to_qkv(x).reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        scale = (self.dim // 4) ** -0.5  # written for 4 heads of dim // 4
        attn = (q @ k.transpose(-2, -1) * scale).softmax(-1)
        return self.out((attn @ v).transpose(1, 2).reshape(b, n, -1))


class _TokenNet(BaseModel):

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(6, 32)
        self.attn = _MyAttention(32, 4)
        self.norm = nn.LayerNorm(32)
        self.head = nn.Linear(32, 3)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = inputs.flatten(2).transpose(1, 2)  # (B, 6, 4, 4) -> 16 tokens of 6
        x = self.embed(x)
        x = x + self.attn(self.norm(x))
        return self.head(x.mean(1))


def _token_mutator(**attention):
    return DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 6, 4, 4),
                                     tracer_type='FxTracer'), attention=attention)


def test_a_declared_attention_type_has_its_heads_searched():
    model = _TokenNet()
    mutator = _token_mutator(types=dict(_MyAttention=dict(qkv='to_qkv', proj='out',
                                                          num_heads='heads')))
    mutator.prepare_from_supernet(model)
    assert mutator.attention_names == ['attn']
    attention = mutator.attentions[0]
    assert attention.qk_dims.frozen and attention.v_dims.frozen  # heads only
    with torch.no_grad():
        attention.heads.set_kept([0, 2])
    model.eval()
    static = to_static(model, mutator).eval()
    assert static.attn.heads == 2 and static.attn.to_qkv.out_features == 48
    expected, got = hard_outputs(model, mutator, static, torch.rand(2, 6, 4, 4))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    assert '[searched] attn: heads 2/4, head dims 8 (not searched)' in mutator.summary()


def test_declared_attention_types_are_checked():
    with pytest.raises(ValueError, match=r"attention.types names \['MyAtention'\]"):
        _token_mutator(types=dict(MyAtention=dict(qkv='to_qkv'))).prepare_from_supernet(
            _TokenNet())
    with pytest.raises(KeyError, match=r"attention.types._MyAttention: unknown keys \['qkvv'\]"):
        _token_mutator(types=dict(_MyAttention=dict(qkvv='to_qkv'))).prepare_from_supernet(
            _TokenNet())
    with pytest.raises(ValueError, match=r"attn \(_MyAttention\) has no linear 'qkv'"):
        _token_mutator(types=dict(_MyAttention=dict(proj='out', num_heads='heads'))
                       ).prepare_from_supernet(_TokenNet())
    with pytest.raises(KeyError, match=r"unknown attention keys \['type'\]"):
        DMSMutator(attention=dict(type='x'))


def test_deit3_layer_scales_are_searched_with_the_embedding_and_exported():
    """DeiT3's layer scales (mmpretrain's LayerScale after each attention and
    FFN) are members of the embedding unit: the export keeps the kept
    channels' scales. (mmpretrain 1.2.0's DeiT3 layer runs ``ln1`` twice and
    never ``ln2``: ``ln2``'s parameters are in the model, counted at its
    searched width, and its FLOPs are none.)"""
    from mmengine.registry import DefaultScope
    from mmpretrain.models.utils import LayerScale
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    cfg = dict(type='ImageClassifier', neck=None,
               backbone=dict(type='DeiT3', arch=VIT_ARCH, img_size=32, patch_size=8),
               head=dict(type='VisionTransformerClsHead', num_classes=10,
                         in_channels=VIT_ARCH['embed_dims']))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = PRETRAIN_MODELS.build(cfg).eval()
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 32, 32),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    embed = [line for line in mutator.summary().splitlines()
             if 'patch_embed.projection_' in line][0]
    assert 'backbone.layers.2.attn.gamma1' in embed and 'backbone.layers.2.ffn.gamma2' in embed
    randomize_structure(mutator, seed=0)
    soft = mutator.soft_resources()
    static = to_static(model, mutator).eval()
    kept = static.backbone.cls_token.shape[-1]
    gamma = static.backbone.layers[0].attn.gamma1
    assert type(gamma) is LayerScale and gamma.weight.shape == (kept, ) and kept < 48
    expected, got = hard_outputs(model, mutator, static, torch.rand(2, 3, 32, 32), mode='tensor')
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    flops, params = count_static(static, (1, 3, 32, 32))
    assert soft['flops'].item() == flops
    assert soft['params'].item() == params
    assert any('ln2' in repr(c) and 'never runs' in repr(c)
               for c, _ in mutator.resources.all_counters())


class _DistilledDeiT(BaseModel):
    """DeiT's DistilledVisionTransformer under a class and a distillation
    head, as DeiTClsHead sums them (which reads the tokens in a way torch.fx
    cannot trace: ``len`` of the backbone's output)."""

    def __init__(self):
        super().__init__()
        from mmengine.registry import DefaultScope
        from mmpretrain.registry import MODELS as PRETRAIN_MODELS
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            self.backbone = PRETRAIN_MODELS.build(dict(
                type='DistilledVisionTransformer', arch=VIT_ARCH, img_size=32, patch_size=8))
        self.head = nn.Linear(VIT_ARCH['embed_dims'], 10)
        self.head_dist = nn.Linear(VIT_ARCH['embed_dims'], 10)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        tokens = self.backbone(inputs)[-1]
        return (self.head(tokens[0]) + self.head_dist(tokens[1])) / 2


def test_deit_distillation_token_is_searched_with_the_embedding_and_exported():
    """The distillation token is sliced with the embedding like the class
    token, and both reach their heads."""
    model = _DistilledDeiT().eval()
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 32, 32),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    assert len(mutator.stages) == 1 and len(mutator.attentions) == 3
    assert not mutator.excluded_units
    randomize_structure(mutator, seed=0)
    soft = mutator.soft_resources()
    static = to_static(model, mutator).eval()
    kept = static.backbone.cls_token.shape[-1]
    assert static.backbone.dist_token.shape[-1] == kept < 48
    assert static.head_dist.in_features == kept
    expected, got = hard_outputs(model, mutator, static, torch.rand(2, 3, 32, 32), mode='tensor')
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    flops, params = count_static(static, (1, 3, 32, 32))
    assert soft['flops'].item() == pytest.approx(flops, rel=1e-6)
    assert soft['params'].item() == params
