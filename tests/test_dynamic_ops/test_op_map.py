"""Layers are matched by what they are: subclasses of the layers DMS knows get
their base's op and are exported as themselves, a subclass that rewrites its
forward is left out with the reason until a DMS op is registered for it, and
mmpretrain's LayerNorm2d (ConvNeXt's residual streams) is searched."""
import pytest
import torch
from mmcv.cnn.bricks.wrappers import Conv2d as MMCVConv2d
from mmengine.analysis import parameter_count
from mmengine.model import BaseModel
from mmengine.registry import DefaultScope
from mmpretrain.models.utils import LayerNorm2d
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmrazor.models.architectures import dynamic_ops as razor_ops
from torch import nn

from dms_mm.dynamic_ops import DMS_OP_MAP, DMSConv2d, register_dms_op
from dms_mm.mutators import DMSMutator
from dms_test_utils import hard_outputs, mmengine_flops, pruned_copy, randomize_structure


class TaggedConv(nn.Conv2d):
    """A subclass that keeps Conv2d's forward and adds an attribute."""

    def __init__(self, *args, tag='stem', **kwargs):
        super().__init__(*args, **kwargs)
        self.tag = tag


class BNAct(nn.BatchNorm2d):
    """BatchNorm with its activation, as timm's BatchNormAct2d."""

    def __init__(self, channels):
        super().__init__(channels)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(super().forward(x))


class _Net(BaseModel):

    def __init__(self, last_conv):
        super().__init__()
        self.stem = TaggedConv(3, 8, 3, padding=1)
        self.bn = BNAct(8)
        self.conv = MMCVConv2d(8, 12, 3, padding=1)
        self.norm = LayerNorm2d(12)
        self.last = last_conv(12, 16, 1)
        self.bn_last = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 4)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = self.norm(self.conv(self.bn(self.stem(inputs))))
        x = torch.relu(self.bn_last(self.last(x)))
        return self.fc(x.mean((2, 3)))


def _prepared(last_conv):
    torch.manual_seed(0)
    model = _Net(last_conv)
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 8, 8),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    return model.eval(), mutator


def _searched_units(mutator):
    return [line for line in mutator.summary().splitlines() if '[searched]' in line
            and 'channels' in line]


def test_subclasses_get_their_base_op_and_are_exported_as_themselves():
    model, mutator = _prepared(nn.Conv2d)
    assert len(_searched_units(mutator)) == 3
    randomize_structure(mutator, seed=1)
    static = pruned_copy(model, mutator)
    assert type(static.stem) is TaggedConv and static.stem.tag == 'stem'
    assert type(static.bn) is BNAct and isinstance(static.bn.act, nn.ReLU)
    assert type(static.conv) is MMCVConv2d and type(static.norm) is LayerNorm2d
    assert static.norm.num_channels == static.conv.out_channels < 12
    assert static.stem.out_channels == static.bn.num_features < 8
    x = torch.rand(2, 3, 8, 8)
    searched, exported = hard_outputs(model, mutator, static, x)
    torch.testing.assert_close(searched, exported, rtol=1e-4, atol=1e-5)


def test_a_subclass_that_rewrites_forward_is_left_out_until_an_op_is_registered():

    class DoubledConv(nn.Conv2d):

        def forward(self, x):
            return 2 * super().forward(x)

    model, mutator = _prepared(DoubledConv)
    summary = mutator.summary()
    assert len(_searched_units(mutator)) == 1
    assert 'last (DoubledConv: it rewrites forward() of Conv2d' in summary
    assert 'register_dms_op' in summary

    class SlicedDoubledConv(razor_ops.DynamicConv2d):

        def forward(self, x):
            return 2 * super().forward(x)

    @register_dms_op(DoubledConv, sliced_op=SlicedDoubledConv)
    class DMSDoubledConv(DMSConv2d):

        def forward(self, x):
            return 2 * super().forward(x)

    assert 'DoubledConv -> DMSDoubledConv' in repr(DMS_OP_MAP)
    model, mutator = _prepared(DoubledConv)
    assert len(_searched_units(mutator)) == 3
    randomize_structure(mutator, seed=2)
    static = pruned_copy(model, mutator)
    assert type(static.last) is DoubledConv and static.last.out_channels < 16
    searched, exported = hard_outputs(model, mutator, static, torch.rand(2, 3, 8, 8))
    torch.testing.assert_close(searched, exported, rtol=1e-4, atol=1e-5)


def test_a_subclass_with_tensors_of_its_own_is_refused_by_name():

    class GatedConv(nn.Conv2d):

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.gate = nn.Parameter(torch.ones(self.out_channels))

    op, reason = DMS_OP_MAP.op_for(GatedConv(3, 4, 1))
    assert op is None
    assert 'it holds tensors' in reason and '(gate)' in reason
    assert 'register_dms_op' in reason
    with pytest.raises(TypeError, match='op of GatedConv must be a class with convert_from'):
        register_dms_op(GatedConv, op=object)


def _convnext(**backbone):
    """ConvNeXt-atto, prepared for a search at 32x32."""
    cfg = dict(type='ImageClassifier', neck=None,
               backbone=dict(type='ConvNeXt', arch='atto', **backbone),
               head=dict(type='LinearClsHead', num_classes=10, in_channels=320))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = PRETRAIN_MODELS.build(cfg).eval()
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 32, 32),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    return model, mutator


def test_convnext_residual_streams_are_searched_and_exported_exactly():
    """ConvNeXt's streams run through LayerNorm2d (channels first) and its
    blocks' LayerNorm (channels last) between the convolutions."""
    model, mutator = _convnext(layer_scale_init_value=0.0)
    searched = _searched_units(mutator)
    streams = [line for line in searched if 'downsample_layers' in line.split(':')[0]]
    assert len(streams) == 4 and '16 searched, 0 left out' in mutator.summary()
    randomize_structure(mutator, seed=0)
    soft = mutator.soft_resources()
    static = pruned_copy(model, mutator)
    norm = static.backbone.downsample_layers[1][0]
    assert type(norm) is LayerNorm2d and norm.num_channels == norm.weight.numel() < 40
    searched_out, exported = hard_outputs(model, mutator, static, torch.rand(2, 3, 32, 32))
    torch.testing.assert_close(searched_out, exported, rtol=1e-4, atol=1e-5)
    counted, _ = mmengine_flops(static)
    assert soft['flops'].item() == pytest.approx(counted, rel=0.01)
    assert soft['params'].item() == pytest.approx(parameter_count(static)[''], rel=0.01)


def test_convnext_layer_scale_as_a_bare_parameter_is_named_where_the_streams_are_left_out():
    _, mutator = _convnext()  # its default layer scale: 1e-6
    reasons = list(mutator.excluded_units.values())
    assert len(reasons) == 5 and not any('model input' in r for r in mutator.fixed_units.values())
    assert all('read outside any layer' in r for r in reasons)
    assert any('backbone.stages.3.1.gamma' in r for r in reasons)
    assert "ConvNeXtBlock: its own forward reads its parameters ['gamma']" in mutator.summary()
