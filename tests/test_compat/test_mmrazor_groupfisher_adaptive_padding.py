"""mmrazor's GroupFisher prunes through mmcv's Conv2dAdaptivePadding (the
convolutions of mmpretrain's EfficientNet): the layer becomes a GroupFisher op
and the Fisher information of a training step is recorded."""
import pytest
import torch
from mmcv.cnn.bricks import Conv2dAdaptivePadding
from mmrazor.implementations.pruning.group_fisher import (
    GroupFisherChannelMutator,
    GroupFisherChannelUnit,
)
from mmrazor.implementations.pruning.group_fisher.ops import GroupFisherMixin
from torch import nn

from dms_mm.compat import mmrazor_groupfisher_adaptive_padding as fix


class _Net(nn.Module):
    """An adaptive-padding conv (3x3, stride 1: padded by 1 on each side)
    feeding another: the unit between them is prunable only through the fix,
    and its Fisher information is taken at the input of ``conv2``."""

    def __init__(self):
        super().__init__()
        self.conv1 = Conv2dAdaptivePadding(3, 8, 3)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = Conv2dAdaptivePadding(8, 4, 3)

    def forward(self, x):
        return self.conv2(torch.relu(self.bn1(self.conv1(x))))


def _prepared():
    model = _Net()
    mutator = GroupFisherChannelMutator(
        parse_cfg=dict(type='ChannelAnalyzer', tracer_type='FxTracer',
                       demo_input=(1, 3, 8, 8)))
    mutator.prepare_from_supernet(model)
    unit, = [u for u in mutator.units if 'conv1' in {c.name for c in u.output_related}]
    return model, mutator, unit


def _train_step(model, mutator):
    mutator.start_record_info()
    model(torch.rand(2, 3, 8, 8)).sum().backward()
    mutator.end_record_info()
    mutator.update_imp()


def test_groupfisher_records_fisher_info_through_adaptive_padding():
    assert fix.is_applied()
    model, mutator, unit = _prepared()

    assert type(model.conv1) is fix.GroupFisherConv2dAdaptivePadding
    assert type(model.conv2) is fix.GroupFisherConv2dAdaptivePadding
    assert unit in mutator.mutable_units
    assert model.conv2 in list(unit.input_related_dynamic_ops)

    _train_step(model, mutator)
    assert unit.normalized_fisher_info.shape == (8, )
    assert bool((unit.normalized_fisher_info > 0).any())
    # and pruning by it works
    assert unit.try_to_prune_min_channel()
    assert unit.mutable_channel.activated_channels == 7


def test_apply_is_idempotent():
    wrapped = GroupFisherChannelUnit._replace_with_dynamic_ops
    fix.apply()
    assert GroupFisherChannelUnit._replace_with_dynamic_ops is wrapped


def test_without_the_fix_the_unit_is_not_prunable(monkeypatch):
    monkeypatch.setattr(GroupFisherChannelUnit, '_replace_with_dynamic_ops',
                        GroupFisherChannelUnit._replace_with_dynamic_ops.__wrapped__)
    model, mutator, unit = _prepared()
    assert type(model.conv1) is Conv2dAdaptivePadding
    assert unit not in mutator.mutable_units


@pytest.mark.filterwarnings('ignore:Using a non-full backward hook')
def test_the_non_full_backward_hook_would_fail():
    model, mutator, _ = _prepared()
    # mmrazor's own start_record (register_backward_hook): the gradient of the
    # padded input (10x10) against the recorded input (8x8)
    model.conv2.start_record = GroupFisherMixin.start_record.__get__(model.conv2)
    with pytest.raises(RuntimeError, match=r'size of tensor a \(8\) must match .* tensor b \(10\)'):
        _train_step(model, mutator)
