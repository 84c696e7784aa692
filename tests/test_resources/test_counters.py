import pytest
import torch
from mmcv.cnn.bricks import Conv2dAdaptivePadding
from mmengine.analysis import FlopAnalyzer, parameter_count
from mmengine.model import BaseModel
from mmengine.model.utils import _BatchNormXd
from mmpretrain.models.utils import LayerScale
from mmpretrain.models.utils.norm import LayerNorm2d
from mmrazor.models.mutables import MutableChannelContainer
from torch import nn

from dms_mm.dynamic_ops import DMSConv2d, DMSLinear
from dms_mm.mutables import DMSMutableChannel
from dms_mm.mutators import DMSMutator
from dms_mm.registry import RESOURCE_COUNTERS
from dms_mm.resources import (
    BaseResourceCounter,
    BatchNormCounter,
    ConvCounter,
    ConvTransposeCounter,
    FixedConvCounter,
    GroupNormCounter,
    LayerNormCounter,
    LayerScaleCounter,
    LinearCounter,
    MutableCounts,
    Width,
    counter_type,
)


def _mutable(n, keep, seed=0):
    m = DMSMutableChannel(n)
    m.importance.copy_(torch.rand(n, generator=torch.Generator().manual_seed(seed)))
    m.current_choice = keep
    return m


def _width(mutable):
    container = MutableChannelContainer(mutable.num_channels)
    container.register_mutable(mutable, 0, mutable.num_channels)
    return Width.of(container, mutable.num_channels)


class _MyLinear(nn.Linear):
    """A user's linear with a parameter of its own."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.temperature = nn.Parameter(torch.ones(3))


@pytest.mark.parametrize('module, counter', [
    (nn.Conv2d(4, 4, 3), ConvCounter),
    (DMSConv2d.convert_from(nn.Conv2d(4, 4, 3)), ConvCounter),
    (Conv2dAdaptivePadding(4, 4, 3), ConvCounter),
    (DMSLinear.convert_from(nn.Linear(4, 4)), LinearCounter),
    (_MyLinear(4, 4), LinearCounter),
    (nn.BatchNorm1d(4), BatchNormCounter),
    (_BatchNormXd(4), BatchNormCounter),
    (nn.SyncBatchNorm(4), BatchNormCounter),
    (LayerNorm2d(4), LayerNormCounter),
    (nn.Conv1d(4, 4, 3), FixedConvCounter),
    (nn.ConvTranspose2d(4, 4, 2), ConvTransposeCounter),
    (nn.GroupNorm(2, 4), GroupNormCounter),
    (nn.InstanceNorm2d(4, affine=True), GroupNormCounter),
    (LayerScale(4), LayerScaleCounter),
    (nn.ReLU(), None),
])
def test_a_layer_gets_the_counter_of_what_it_is(module, counter):
    assert counter_type(module) is counter


def test_a_count_has_the_hard_value_and_the_gradient_of_the_soft_masks():
    conv = DMSConv2d.convert_from(nn.Conv2d(8, 16, 3, padding=1))
    m_in, m_out = _mutable(8, 0.5), _mutable(16, 0.25, 1)
    counter = ConvCounter('conv', conv, (1, 8, 4, 4), (1, 16, 4, 4), _width(m_in),
                          _width(m_out))
    flops = counter.flops(MutableCounts())
    assert flops.item() == 4 * 4 * 9 * 16  # 4 in x 4 out channels kept, 3x3, 4x4 output
    flops.backward()
    # d flops / d keep = (d n_in / d keep) * n_out * 9 * 16, d n_in / d keep ~ N
    assert m_in.keep_ratio.grad.item() == pytest.approx(8 * 4 * 9 * 16, rel=0.15)
    assert m_out.keep_ratio.grad.item() > 0
    assert 'ConvCounter(conv: in Width(8: 8 by DMSMutableChannel(8))' in repr(counter)


@pytest.mark.parametrize('groups', [2, 4])
def test_a_grouped_convolution_counts_kept_channels_per_group(groups):
    conv = DMSConv2d.convert_from(nn.Conv2d(8, 8, 1, groups=groups))
    m_in = _mutable(8, 1.0)
    m_in.importance.copy_(torch.arange(8.0))
    m_in.current_choice = 0.5  # keeps channels 4..7: all in the last group(s)
    counter = ConvCounter('conv', conv, (1, 8, 1, 1), (1, 8, 1, 1), _width(m_in), Width(8))
    per_group_out = 8 // groups
    kept_in_per_group = [sum(4 <= c < 8 for c in range(g * 8 // groups, (g + 1) * 8 // groups))
                         for g in range(groups)]
    expected = sum(k * per_group_out for k in kept_in_per_group)
    assert counter.flops(MutableCounts()).item() == expected


class _Scale(nn.Module):
    """A layer type of the user's: one learned scale per channel."""

    def __init__(self, channels):
        super().__init__()
        self.channels = channels
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x):
        return x * self.weight.view(1, -1, 1, 1)


class _ScaleCounter(BaseResourceCounter):

    @staticmethod
    def channels(module):
        return module.channels, module.channels

    def flops(self, counts):
        return self.in_width.count(counts) * (self.in_shape[0] * self.in_shape[2] *
                                              self.in_shape[3])

    def params(self, counts):
        return self.in_width.count(counts)


@pytest.fixture
def scale_counter():
    RESOURCE_COUNTERS.register_module(name='_Scale', module=_ScaleCounter)
    yield _ScaleCounter
    RESOURCE_COUNTERS.module_dict.pop('_Scale')


def _net(scale):
    layers = [nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()]
    if scale:
        layers.append(_Scale(8))
    return nn.Sequential(*layers, nn.Conv2d(8, 4, 1), nn.Flatten(), _MyLinear(4 * 8 * 8, 5))


def _prepared(model):
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(2, 3, 8, 8),
                                        tracer_type='BackwardTracer'))
    mutator.prepare_from_supernet(model)
    return mutator


def test_a_layer_type_of_ones_own_is_counted_once_its_counter_is_registered(scale_counter):
    plain, scaled = _prepared(_net(False)), _prepared(_net(True))
    assert scaled.supernet_flops == plain.supernet_flops + 2 * 8 * 8 * 8
    assert scaled.supernet_params == plain.supernet_params + 8
    assert any(isinstance(c, _ScaleCounter) for c, _ in scaled.resources.counters) or \
        len(scaled.resources.constant_counters) > len(plain.resources.constant_counters)


def test_parameters_the_formula_does_not_know_are_counted_too():
    model = _net(False)
    mutator = _prepared(model)
    assert mutator.supernet_params == parameter_count(model)['']


def test_layers_no_search_changes_are_summed_once():
    mutator = _prepared(_net(False))
    estimator = mutator.resources
    # the classifier: its input unit is left out (no DMS op for _MyLinear), its output fixed
    linear_flops, linear_params = 2 * 256 * 5, 256 * 5 + 5 + 3
    assert estimator.constant == dict(flops=linear_flops, params=linear_params)
    assert [type(c).__name__ for c, _ in estimator.counters] == [
        'ConvCounter', 'BatchNormCounter', 'ConvCounter']
    assert repr(estimator).startswith('SoftResourceEstimator(3 counted each step '
                                      '(1 BatchNormCounter, 2 ConvCounter; 0 inside removable '
                                      'blocks), 1 constant')
    for mutable in mutator.dms_mutables():
        mutable.importance.copy_(torch.arange(float(mutable.num_elements)))
        mutable.current_choice = 0.5
    # the linear is counted as it is whatever the structure
    half = mutator.soft_resources()
    assert half['flops'].item() < mutator.supernet_flops
    assert half['flops'].item() > linear_flops


class _UnmaskedOpsNet(BaseModel):
    """Layers no DMS op masks, which still cost FLOPs: a GroupNorm, a
    transposed convolution, an InstanceNorm and a 1-d convolution."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.group_norm = nn.GroupNorm(2, 8)
        self.up = nn.ConvTranspose2d(8, 6, 2, stride=2)
        self.instance_norm = nn.InstanceNorm2d(6, affine=True)
        self.seq = nn.Conv1d(6, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = self.instance_norm(self.up(self.group_norm(self.stem(inputs)).relu()))
        return self.fc(self.seq(x.flatten(2)).mean(-1))


def test_ops_no_dms_op_masks_are_counted_as_mmengine_counts_them():
    model = _UnmaskedOpsNet()
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 8, 8),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    analyzer = FlopAnalyzer(model.eval(), (torch.rand(1, 3, 8, 8), ))
    analyzer.unsupported_ops_warnings(False)
    ops = analyzer.by_operator()
    assert all(ops[op] > 0 for op in ('group_norm', 'instance_norm', 'conv')), dict(ops)
    assert mutator.supernet_flops == analyzer.total()
    assert mutator.supernet_params == parameter_count(model)['']


class _Biased(nn.Module):
    """A residual block with a bias of its own, read outside any layer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.table = nn.Parameter(torch.zeros(1, 4, 1, 1))

    def forward(self, x):
        return x + self.conv(x).relu() + self.table


class _Embedded(BaseModel):
    """A position embedding and blocks with bare parameters."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.pos_embed = nn.Parameter(torch.zeros(1, 4, 8, 8))
        self.blocks = nn.Sequential(_Biased(), _Biased(), _Biased())
        self.head = nn.Linear(4, 2)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.head(self.blocks(self.stem(inputs) + self.pos_embed).mean((2, 3)))


def test_parameters_outside_any_layer_are_counted_and_go_with_their_block():
    from dms_mm.resources import ModuleParamsCounter
    from dms_mm.structures import count_static, to_static
    model = _Embedded()
    params = parameter_count(model)['']
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 8, 8),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    assert mutator.supernet_params == params
    owners = {c.name: block for c, block in mutator.resources.all_counters()
              if isinstance(c, ModuleParamsCounter)}
    assert set(owners) == {'', 'blocks.0', 'blocks.1', 'blocks.2'} and owners[''] is None
    with torch.no_grad():
        mutator.stages[0].set_kept([0, 2])
        soft = mutator.soft_resources()
    static = to_static(model, mutator)
    assert float(soft['params']) == count_static(static, (1, 3, 8, 8))[1] == params - 4 - 148
