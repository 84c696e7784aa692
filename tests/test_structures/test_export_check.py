"""The export is tried while the mutator is prepared: what would break it when
the search ends is an error at preparation, naming the module."""
import pytest
import torch
from mmengine.model import BaseModel
from mmrazor.models.architectures import dynamic_ops as razor_ops
from torch import nn

from dms_mm.dynamic_ops import DMSConv2d, register_dms_op
from dms_mm.mutators import DMSMutator
from dms_mm.structures import ExportCheckError, check_export, to_static
from dms_test_utils import dms_model


def test_a_model_that_exports_passes_and_is_left_as_it_was():
    model, mutator = dms_model('resnet18')
    before = {k: v.clone() for k, v in model.state_dict().items()}
    keep = [float(m.keep_ratio) for m in mutator.dms_mutables()]
    assert check_export(model, mutator, seed=3) < 1e-4
    assert [float(m.keep_ratio) for m in mutator.dms_mutables()] == keep
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


class _FixedWidthAttention(nn.Module):
    """Attention that reshapes its heads' output to the width it was built
    with: it runs while heads are masked, and breaks once they are removed."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.dim = heads, dim
        self.to_qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        qkv = self.to_qkv(x).unflatten(-1, (3, self.heads, -1)).movedim(-3, 0).transpose(2, 3)
        out = (qkv[0] @ qkv[1].transpose(-2, -1)).softmax(-1) @ qkv[2]
        return self.out(out.transpose(1, 2).flatten(2).reshape(*x.shape[:2], self.dim))


class _TokenNet(BaseModel):

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(6, 32)
        self.attn = _FixedWidthAttention(32, 4)
        self.head = nn.Linear(32, 3)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = self.embed(inputs.flatten(2).transpose(1, 2))
        return self.head((x + self.attn(x)).mean(1))


def _token_mutator(**kwargs):
    return DMSMutator(
        parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 6, 4, 4), tracer_type='FxTracer'),
        attention=dict(types=dict(_FixedWidthAttention=dict(qkv='to_qkv', proj='out',
                                                            num_heads='heads'))), **kwargs)


def test_an_export_that_would_fail_after_the_search_fails_at_preparation():
    with pytest.raises(ExportCheckError, match=r'fails in attn \(_FixedWidthAttention\)') as info:
        _token_mutator().prepare_from_supernet(_TokenNet())
    assert 'check_export=False' in str(info.value) and 'shape' in str(info.value)
    # without the check the search would run, and its export break at the end
    model, mutator = _TokenNet(), _token_mutator(check_export=False)
    mutator.prepare_from_supernet(model)
    with torch.no_grad():
        mutator.attentions[0].heads.set_kept([0, 2])
    with pytest.raises(RuntimeError, match='shape'):
        to_static(model, mutator).eval()(torch.rand(1, 6, 4, 4))


class _HalfConv(nn.Conv2d):

    def forward(self, x):
        return 0.5 * super().forward(x)


class _SlicedHalfConv(razor_ops.DynamicConv2d):

    def forward(self, x):
        return 0.5 * super().forward(x)


@register_dms_op(_HalfConv, sliced_op=_SlicedHalfConv)
class _ForgetfulDMSHalfConv(DMSConv2d):
    """A user's op that forgets the layer's factor: the searched model is not
    the model the export rebuilds."""


class _ConvNet(BaseModel):

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.halved = _HalfConv(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.fc(self.halved(self.stem(inputs).relu()).mean((2, 3)))


def test_an_export_that_computes_something_else_is_named_at_preparation():
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 8, 8),
                                        tracer_type='FxTracer'))
    with pytest.raises(ExportCheckError, match=r'differs from the searched one .* first in '
                                               r'halved,'):
        mutator.prepare_from_supernet(_ConvNet())
