"""Ops called outside any layer (attention products, interpolation, pooling,
``F.linear`` on a parameter) are counted: the soft FLOPs equal mmengine's
count, inside removable blocks too, and a search that changes them without a
DMS op to model it is named at preparation."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import nn

from dms_mm.mutators import DMSMutator
from dms_mm.resources import FunctionalOpCounter, record_functional_ops, sdpa_flop_jit
from dms_mm.resources.functional_ops import sdpa_flops
from dms_mm.structures import (
    ExportCheckError,
    check_export,
    count_static,
    randomize_structure,
    to_static,
)


def _mutator(shape, **kwargs):
    return DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=shape,
                                     tracer_type='FxTracer'), **kwargs)


class _Mixer(BaseModel):
    """Convolutions whose widths are searched, and between them ops on the
    fixed 4 channels of a projection: a product of tokens, an einsum,
    attention by ``F.scaled_dot_product_attention`` and by
    ``nn.MultiheadAttention``, an upsampling and an adaptive pooling."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.body = nn.Conv2d(16, 16, 3, padding=1)
        self.to_tokens = nn.Conv2d(16, 4, 1)
        self.mha = nn.MultiheadAttention(4, 2, batch_first=True)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.head = nn.Linear(16, 5)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = self.body(self.stem(inputs).relu()).relu()
        t = self.to_tokens(x).flatten(2).transpose(1, 2)  # (B, 64, 4)
        t = (t @ t.transpose(1, 2)).softmax(-1) @ t
        t = torch.einsum('bnc,bmc->bnm', t, t).softmax(-1) @ t
        t = F.scaled_dot_product_attention(t[:, None], t[:, None], t[:, None])[:, 0]
        t = self.mha(t, t, t, need_weights=False)[0]
        u = F.interpolate(t.transpose(1, 2).reshape(-1, 4, 4, 16), scale_factor=2,
                          mode='bilinear')
        return self.head(self.pool(u).flatten(1))


def test_the_soft_count_of_ops_outside_the_layers_equals_mmengines():
    model, mutator = _Mixer(), _mutator((1, 3, 8, 8))
    expected, _ = count_static(model, (1, 3, 8, 8))
    mutator.prepare_from_supernet(model)
    ops = {c.op for c, _ in mutator.resources.all_counters()
           if isinstance(c, FunctionalOpCounter)}
    assert {'matmul', 'einsum', 'scaled_dot_product_attention', 'multi_head_attention',
            'upsample',
            'adaptive_avg_pool2d'} <= ops
    assert mutator.supernet_flops == pytest.approx(expected, rel=1e-6)
    assert 'FunctionalOpCounter' not in repr(mutator.resources)  # constants: in no block
    # the ops on the projection's fixed 4 channels: a random structure's export
    # is counted exactly as well
    with torch.no_grad():
        randomize_structure(mutator, seed=1)
        soft = float(mutator.soft_resources()['flops'])
    static = to_static(model, mutator)
    assert soft == pytest.approx(count_static(static, (1, 3, 8, 8))[0], rel=1e-6)
    assert mutator.approximate_counts == {}


def test_calls_inside_a_counted_layer_are_not_recorded_twice():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 36, 2))
    with record_functional_ops(model, ['0', '1', '2']) as calls:
        model(torch.rand(1, 3, 8, 8))
    assert calls == []
    with record_functional_ops(model, []) as calls:
        model(torch.rand(1, 3, 8, 8))
    assert [(c.module, c.op, c.calls) for c in calls] == [('0', 'conv', 1), ('2', 'linear', 1)]
    assert calls[0].flops == 4 * 3 * 9 * 36


class _Block(nn.Module):
    """A residual block that also adds an upsampled pooling of its (fixed,
    3-channel) input: those FLOPs go with the block."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x):
        smooth = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode='bilinear')
        return x + self.conv2(self.conv1(x).relu()) + smooth


class _Stacked(BaseModel):

    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(*[_Block() for _ in range(3)])
        self.head = nn.Linear(3, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.head(self.blocks(inputs).mean((2, 3)))


def test_ops_in_a_removed_block_are_removed_with_it():
    model, mutator = _Stacked(), _mutator((1, 3, 8, 8))
    expected, _ = count_static(model, (1, 3, 8, 8))
    mutator.prepare_from_supernet(model)
    assert mutator.supernet_flops == pytest.approx(expected, rel=1e-6)
    upsampling = [(c, block) for c, block in mutator.resources.counters
                  if isinstance(c, FunctionalOpCounter)]
    assert len(upsampling) == 3 and all(block is not None for _, block in upsampling)
    with torch.no_grad():
        mutator.stages[0].set_kept([0, 2])
        soft = float(mutator.soft_resources()['flops'])
    static = to_static(model, mutator)
    assert len(static.blocks) == 2
    assert soft == pytest.approx(count_static(static, (1, 3, 8, 8))[0], rel=1e-6)


class _Upsampled(BaseModel):
    """An upsampling and a pooling of the searched width of ``stem``, through
    an activation: counted per channel of ``stem``."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.fuse = nn.Conv2d(16, 2, 1)
        self.head = nn.Linear(2, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = F.interpolate(self.stem(inputs).relu(), scale_factor=2, mode='bilinear')
        return self.head(F.adaptive_avg_pool2d(self.fuse(x), 1).flatten(1))


def test_ops_per_channel_of_a_searched_width_are_counted_by_it():
    model, mutator = _Upsampled(), _mutator((1, 3, 8, 8))
    expected, _ = count_static(model, (1, 3, 8, 8))
    mutator.prepare_from_supernet(model)
    assert mutator.supernet_flops == pytest.approx(expected, rel=1e-6)
    upsample = next(c for c, _ in mutator.resources.counters
                    if isinstance(c, FunctionalOpCounter) and c.op == 'upsample')
    assert upsample.out_width.searched and 'per channel of' in repr(upsample)
    with torch.no_grad():
        mutator.units[0].mutable_channel.set_keep_count(5)
        soft = float(mutator.soft_resources()['flops'])
    assert soft == pytest.approx(count_static(to_static(model, mutator), (1, 3, 8, 8))[0],
                                 rel=1e-6)
    assert mutator.approximate_counts == {}


class _Pooled(_Upsampled):
    """An upsampling after a pooling, which changes the shape: the count does
    not follow the channels of ``stem`` there, and a search changes its FLOPs."""

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = F.interpolate(F.max_pool2d(self.stem(inputs).relu(), 2), scale_factor=4,
                          mode='bilinear')
        return self.head(F.adaptive_avg_pool2d(self.fuse(x), 1).flatten(1))


def test_a_search_that_changes_uncounted_ops_is_named_at_preparation():
    with pytest.raises(ExportCheckError, match=r'upsample in the model.* off by'):
        _mutator((1, 3, 8, 8)).prepare_from_supernet(_Pooled())
    # within a looser tolerance they are counted as at full width, and the summary says so
    model, mutator = _Pooled(), _mutator((1, 3, 8, 8), check_export=False)
    mutator.prepare_from_supernet(model)
    check_export(model, mutator, count_tolerance=1.0)
    assert list(mutator.approximate_counts) == ['upsample in the model']
    assert '[APPROXIMATE COUNT] upsample in the model' in mutator.summary()


class _SDPA(nn.Module):

    def forward(self, q, k, v):
        return F.scaled_dot_product_attention(q, k, v)


def test_mmengines_count_of_scaled_dot_product_attention():
    from mmengine.analysis import FlopAnalyzer
    q, k, v = torch.rand(2, 3, 5, 4), torch.rand(2, 3, 7, 4), torch.rand(2, 3, 7, 6)
    analyzer = FlopAnalyzer(_SDPA(), (q, k, v))
    analyzer.set_op_handle('aten::scaled_dot_product_attention', sdpa_flop_jit)
    assert analyzer.total() == sdpa_flops(q.shape, k.shape, v.shape) == 2 * 3 * 5 * 7 * (4 + 6)
