"""mmengine's SyncBN conversions (which the Runner applies) keep the dynamic
BatchNorm ops of a DMS model: the same objects, switched in place between the
synchronised and the plain form, so the search and its export still see them."""
import mmengine.runner.runner as runner_module
import pytest
import torch
from torch import nn

from dms_mm.compat import dynamic_sync_batchnorm
from dms_mm.dynamic_ops import DMSBatchNorm2d, DMSBatchNormXd, DMSSyncBatchNorm
from dms_test_utils import dms_model, pruned_copy, randomize_structure


def _norms(model):
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def test_runner_conversions_switch_dms_ops_in_place_and_export_still_works():
    assert dynamic_sync_batchnorm.is_applied()
    model, mutator = dms_model('resnet18')
    randomize_structure(mutator)
    before = _norms(model)
    assert {type(m) for m in before} == {DMSBatchNorm2d}

    # sync_bn='torch' in a distributed run
    converted = runner_module.convert_sync_batchnorm(model, 'torch')
    after = _norms(converted)
    assert [id(m) for m in after] == [id(m) for m in before]  # the same objects
    assert {type(m) for m in after} == {DMSSyncBatchNorm}
    assert all(m.process_group is None for m in after)
    # the units' masks still reach them: the searched widths are counted as before
    with torch.no_grad():
        assert float(mutator.soft_resources()['flops']) < mutator.supernet_flops

    # a non-distributed run reverts SyncBN
    reverted = runner_module.revert_sync_batchnorm(converted)
    assert [id(m) for m in _norms(reverted)] == [id(m) for m in before]
    assert {type(m) for m in _norms(reverted)} == {DMSBatchNormXd}

    static = pruned_copy(reverted, mutator)
    kept = mutator.units[0].mutable_channel.num_kept
    assert static.backbone.bn1.num_features == kept < 64
    with torch.no_grad():
        static(torch.rand(1, 3, 32, 32))


def test_plain_batchnorm_is_converted_as_mmengine_does():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    converted = runner_module.convert_sync_batchnorm(model, 'torch')
    assert type(converted[1]) is nn.SyncBatchNorm
    reverted = runner_module.revert_sync_batchnorm(converted)
    assert type(reverted[1]).__name__ == '_BatchNormXd'


def test_mmcv_sync_bn_has_no_dynamic_counterpart():
    model, _ = dms_model('resnet18')
    with pytest.raises(ValueError, match="sync_bn='mmcv'.*set sync_bn='torch'"):
        runner_module.convert_sync_batchnorm(model, 'mmcv')
