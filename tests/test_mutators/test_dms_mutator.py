import pytest
import torch
from mmengine.model import BaseModel
from torch import nn

from dms_mm.mutators import DMSMutator
from dms_test_utils import dms_model


@pytest.mark.parametrize('name,units,stages,removable', [
    ('efficientnet-b0', 40, 4, 9),  # B0's removable blocks [1, 1, 2, 2, 3]
    ('resnet18', 12, 4, 5),  # 4 residual streams + 8 block-internal widths
    ('mobilenet-v2', 25, 5, 10),  # stem, 7 streams, 16 expansions, last conv
    ('resnet50', 37, 4, 12),  # stem, 4 residual streams, 2 widths in each of 16 bottlenecks
])
def test_finds_units_and_stages_of_mmpretrain_backbones(name, units, stages, removable):
    _, mutator = dms_model(name)
    assert len(mutator.searchable_units) == units
    assert len(mutator.stages) == stages
    assert sum(m.num_blocks for m in mutator.stages) == removable
    assert mutator.excluded_units == {}
    assert mutator.untraced_parts == {}  # every layer is in a traced unit


def test_summary_names_units_stages_and_why_blocks_stay():
    _, mutator = dms_model('resnet18')
    text = mutator.summary()
    assert 'supernet:' in text and 'MFLOPs' in text
    assert '[searched] backbone.layer1: 2 blocks, removable [0, 1]' in text
    assert 'backbone.layer2.0.conv1' in text  # a consumer listed under its unit
    assert "[static]" not in text or 'none removable' in text


class _ChannelShuffle(nn.Module):
    """A custom layer with parameters that DMS has no op for."""

    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x):
        return x * self.weight.view(1, -1, 1, 1)


class _Net(BaseModel):

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.custom = _ChannelShuffle(8)
        self.mid = nn.Conv2d(8, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.head = nn.Linear(16, 4)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = self.custom(self.stem(inputs))
        x = self.bn(self.mid(x)).relu().mean((2, 3))
        return self.head(x)


def test_unit_with_an_unmaskable_consumer_is_left_out_and_named():
    model = _Net()
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 8, 8),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    assert len(mutator.excluded_units) == 1
    (name, reason), = mutator.excluded_units.items()
    assert name.startswith('stem') and 'custom (_ChannelShuffle: no DMS op' in reason
    assert 'register_dms_op' in reason
    assert 'LEFT OUT' in mutator.summary() and 'custom (_ChannelShuffle: ' in mutator.summary()
    assert [u.name for u in mutator.searchable_units] == ['mid_(0, 16)_16']
    # the stem keeps its 8 channels: nothing masks them
    assert type(model.stem) is nn.Conv2d


def test_backward_tracer_is_an_option():
    model = _Net()
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 8, 8),
                                        tracer_type='BackwardTracer'))
    mutator.prepare_from_supernet(model)
    assert len(mutator.units) >= 1


def test_unknown_depth_key_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown depth keys \\['enable'\\]"):
        DMSMutator(depth=dict(enable=False))


def test_depth_can_be_disabled_or_excluded():
    _, mutator = dms_model('resnet18', depth=dict(enabled=False))
    assert len(mutator.stages) == 0
    _, mutator = dms_model('resnet18', depth=dict(exclude=('backbone.layer1', )))
    assert 'backbone.layer1' not in mutator.stage_names and len(mutator.stages) == 3


def test_shapes_recording_restores_the_training_mode():
    model, mutator = dms_model('mobilenet-v2')
    assert model.training
    model.eval()
    mutator._record_shapes(model)
    assert not model.training


def test_importance_is_updated_once_per_step_for_every_mutable():
    model, mutator = dms_model('resnet18')
    mutator.refresh_masks('track')
    model(torch.rand(2, 3, 32, 32)).sum().backward()
    updated = mutator.update_importance()
    # a one-element mutable has no ranking to learn (stages with one removable block)
    ranked = [m for m in mutator.dms_mutables() if m.num_elements > 1]
    assert updated == len(ranked) < len(mutator.dms_mutables())
    assert all(m.importance.abs().sum() > 0 for m in ranked)
    assert mutator.update_importance() == 0  # nothing pending any more


class _CheckedBlock(nn.Module):
    """A residual block whose Python-level input check torch.fx cannot trace."""

    def __init__(self, channels, out_channels=None):
        super().__init__()
        self.conv = nn.Conv2d(channels, out_channels or channels, 3, padding=1)

    def forward(self, x):
        if x.shape[1] != self.conv.in_channels:
            raise ValueError('wrong input')
        out = self.conv(x)
        return out if out.shape != x.shape else x + out


class _NetWithCheckedBlocks(BaseModel):

    def __init__(self, last_out=8):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.stage = nn.Sequential(_CheckedBlock(8), _CheckedBlock(8, last_out))
        self.head = nn.Linear(last_out, 4)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.head(self.stage(self.stem(inputs)).mean((2, 3)))


def _mutator(**depth):
    return DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 8, 8),
                                     tracer_type='FxTracer'), depth=depth)


def test_untraceable_blocks_are_named_with_the_reason():
    mutator = _mutator()
    mutator.prepare_from_supernet(_NetWithCheckedBlocks())
    assert len(mutator.stages) == 0
    assert set(mutator.untraced_parts) == {'stage.0', 'stage.1'}
    reason = mutator.untraced_parts['stage.0']
    assert 'torch.fx cannot trace the forward of _CheckedBlock (TraceError' in reason
    assert "layers ['conv'] keep their width" in reason
    text = mutator.summary()
    assert '[NOT TRACED] stage.0: torch.fx cannot trace' in text
    assert '[static] stage: 2 blocks, none removable (its forward cannot be traced' in text


def test_a_block_type_can_be_declared_removable():
    mutator = _mutator(removable_types=['_CheckedBlock'])
    mutator.prepare_from_supernet(_NetWithCheckedBlocks())
    assert mutator.stage_names == ['stage'] and mutator.stages[0].num_blocks == 2
    report = mutator.stage_report[0]
    assert report.blocks[0].reason == 'declared removable (depth.removable_types: _CheckedBlock)'
    # the qualified class name works as well
    qualified = f'{_CheckedBlock.__module__}._CheckedBlock'
    mutator = _mutator(removable_types=[qualified])
    mutator.prepare_from_supernet(_NetWithCheckedBlocks())
    assert mutator.stages[0].num_blocks == 2


def test_declared_removable_types_are_checked():
    with pytest.raises(ValueError, match=r"removable_types names \['CheckedBlok'\]"):
        _mutator(removable_types=['CheckedBlok']).prepare_from_supernet(_NetWithCheckedBlocks())
    # a declared block that changes the shape cannot be skipped: named at preparation
    with pytest.raises(RuntimeError, match='block stage.1 is searched as removable, but maps '
                       r'an input of shape \(1, 8, 8, 8\) to \(1, 6, 8, 8\)'):
        _mutator(removable_types=['_CheckedBlock']).prepare_from_supernet(
            _NetWithCheckedBlocks(last_out=6))


def test_a_resource_count_ranks_each_mutable_once_and_counts_again_afresh(monkeypatch):
    from dms_mm.mutables.dms_mutables import DMSMutableMixin

    _, mutator = dms_model('resnet18')
    mutator.refresh_masks('track')
    calls = []
    compute = DMSMutableMixin.compute_soft_mask

    def counted(self):
        calls.append(id(self))
        return compute(self)

    monkeypatch.setattr(DMSMutableMixin, 'compute_soft_mask', counted)
    flops = mutator.soft_resources()['flops']
    assert sorted(calls) == sorted(id(m) for m in mutator.dms_mutables())
    flops.backward()
    # a second count (a logging hook, a params limit) has a graph of its own
    mutator.soft_resources()['params'].backward()
    assert len(calls) == 2 * len(mutator.dms_mutables())


class _TwoStage(BaseModel):
    """Stands for a two-stage detector: its tensor mode needs image metas."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Conv2d(3, 8, 3)
        self.rpn_head, self.roi_head = nn.Conv2d(8, 4, 1), nn.Identity()

    def forward(self, inputs, data_samples=None, mode='tensor'):
        metas = [sample.metainfo for sample in data_samples]  # None: a TypeError
        return self.roi_head(self.rpn_head(self.backbone(inputs))), metas


def test_a_model_that_does_not_run_on_the_demo_input_is_refused_first_with_why():
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 16, 16),
                                        tracer_type='FxTracer'))
    with pytest.raises(ValueError, match=r'_TwoStage does not run on a demo input of shape '
                       r'\(1, 3, 16, 16\) in tensor mode \(TypeError.*two-stage detector'):
        mutator.prepare_from_supernet(_TwoStage())
    assert len(mutator.units) == 0
