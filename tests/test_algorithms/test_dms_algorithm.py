import logging
import math

import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import load_checkpoint, save_checkpoint
from mmrazor.registry import MODELS
from torch import nn

from dms_test_utils import build_classifier, classifier_batch, collect_logs, resnet18_algorithm


def test_loss_dict_has_task_resource_and_logged_ratios():
    algo = resnet18_algorithm(target_flops_ratio=0.5)
    algo.set_search_state('search', 0.8)
    losses = algo(*classifier_batch(), mode='loss')
    assert {'loss', 'loss_resource', 'flops_ratio', 'params_ratio', 'target_ratio'} <= set(losses)
    assert losses['flops_ratio'].item() == pytest.approx(1.0)
    assert losses['target_ratio'].item() == pytest.approx(0.8)
    # two-sided log loss at ratio 1.0 against 0.8
    assert losses['loss_resource'].item() == pytest.approx(math.log(1 / 0.8), rel=1e-5)
    parsed, log_vars = algo.parse_losses(losses)
    assert parsed.item() == pytest.approx(losses['loss'].item() + losses['loss_resource'].item())
    assert 'flops_ratio' in log_vars


def test_resource_loss_forms():
    algo = resnet18_algorithm(target_flops_ratio=0.5, two_sided=False)
    ratio = torch.tensor(0.6)
    assert algo.resource_loss(ratio, 0.5).item() == pytest.approx(math.log(1.2))
    assert algo.resource_loss(torch.tensor(0.4), 0.5).item() == 0.0
    algo = resnet18_algorithm(target_flops_ratio=0.5, loss_type='l2', loss_weight=10.0)
    assert algo.resource_loss(ratio, 0.5).item() == pytest.approx(0.1)
    assert algo.resource_loss(torch.tensor(0.4), 0.5).item() == pytest.approx(0.1)


def test_targets_as_ratio_absolute_flops_or_params():
    algo = resnet18_algorithm(target_flops_ratio=0.4)
    supernet_flops = algo.mutator.supernet_flops
    assert (algo.target_kind, algo.final_target_ratio) == ('flops', 0.4)
    algo = resnet18_algorithm(target_flops=0.25 * supernet_flops)
    assert algo.target_kind == 'flops' and algo.final_target_ratio == pytest.approx(0.25)
    algo = resnet18_algorithm(target_params=0.5 * algo.mutator.supernet_params)
    assert algo.target_kind == 'params' and algo.final_target_ratio == pytest.approx(0.5)


@pytest.mark.parametrize('kwargs,match', [
    (dict(), 'exactly one of'),
    (dict(target_flops_ratio=0.5, target_params=1e6), 'exactly one of'),
    (dict(target_flops_ratio=0.0), r'must be in \(0, 1\]'),
    (dict(target_flops_ratio=1.5), r'must be in \(0, 1\]'),
    (dict(target_flops=1e15), 'ratio of'),
    (dict(target_flops_ratio=0.5, loss_type='l1'), 'loss_type must be one of'),
])
def test_bad_targets_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        resnet18_algorithm(**kwargs)


def test_training_without_the_scheduler_hook_fails_loudly():
    algo = resnet18_algorithm(target_flops_ratio=0.5)
    with pytest.raises(RuntimeError, match='DMSSchedulerHook'):
        algo(*classifier_batch(), mode='loss')


def test_eval_uses_hard_masks_and_predicts():
    algo = resnet18_algorithm(target_flops_ratio=0.5).eval()
    with torch.no_grad():
        preds = algo(*classifier_batch(2), mode='predict')
    assert len(preds) == 2
    assert all(m._mask_mode == 'hard' for m in algo.mutator.dms_mutables())


def test_structure_only_search_keeps_weights_and_updates_bn_statistics():
    algo = resnet18_algorithm(target_flops_ratio=0.5, train_model=False)
    algo.train()
    assert not algo.architecture.backbone.conv1.weight.requires_grad
    assert not algo.architecture.backbone.layer1[0].conv1.training
    bn = algo.architecture.backbone.bn1
    assert bn.training
    before = bn.running_mean.clone()
    algo.set_search_state('search', 0.7)
    losses = algo(*classifier_batch(), mode='loss')
    algo.parse_losses(losses)[0].backward()
    assert not torch.equal(before, bn.running_mean)
    assert algo.architecture.backbone.conv1.weight.grad is None
    assert algo.mutator.units[0].mutable_channel.keep_ratio.grad is not None


def test_search_from_a_pretrained_checkpoint(tmp_path):
    pretrained = build_classifier('resnet18')
    path = tmp_path / 'pretrained.pth'
    save_checkpoint(pretrained.state_dict(), str(path))
    algo = resnet18_algorithm(target_flops_ratio=0.5)
    load_checkpoint(algo.architecture, str(path), map_location='cpu')
    torch.testing.assert_close(algo.architecture.backbone.conv1.weight,
                               pretrained.backbone.conv1.weight)


# ------------------------------------------------------------------- bad inputs
class _Tiny(BaseModel):
    """conv -> (custom layer) -> conv -> BN -> linear head."""

    def __init__(self, custom=None):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.custom = custom if custom is not None else nn.Identity()
        self.mid = nn.Conv2d(8, 16, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.head = nn.Linear(16, 4)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = self.custom(self.stem(inputs))
        return self.head(self.bn(self.mid(x)).relu().mean((2, 3)))


class _PerChannelScale(nn.Module):
    """A custom layer with parameters per channel, which DMS has no op for."""

    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x):
        return x * self.weight.view(1, -1, 1, 1)


class _NothingToSearch(BaseModel):
    """Its only layer reads the model input and writes the model output."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.fc(inputs.mean((2, 3)))


def _tiny(architecture, **kwargs):
    mutator = dict(type='DMSMutator', parse_cfg=dict(
        type='ChannelAnalyzer', demo_input=(1, 3, 8, 8), tracer_type='FxTracer'))
    mutator.update(kwargs.pop('mutator', {}))
    return MODELS.build(dict(_scope_='mmrazor', type='DMSAlgorithm', architecture=architecture,
                             mutator=mutator, **kwargs))


@pytest.mark.parametrize('kwargs,match', [
    (dict(target_flops_ratio=-0.2), r'target_flops_ratio=-0.2 is a flops ratio of -0.2 to '
     r'the supernet .*; it must be in \(0, 1\]'),
    (dict(target_params=0.0), r'target_params=0.0 .* must be in \(0, 1\]'),
    (dict(target_flops_ratio=1.01), r'target_flops_ratio=1.01 .* must be in \(0, 1\]'),
])
def test_target_outside_zero_one_names_the_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _tiny(_Tiny(), **kwargs)


def test_target_below_what_the_keep_bounds_allow_is_an_error():
    unit_cfg = dict(channel_unit_cfg=dict(type='DMSChannelUnit',
                                          default_args=dict(min_keep=0.5)))
    algo = _tiny(_Tiny(), target_flops_ratio=0.5, mutator=unit_cfg)
    smallest = algo.smallest_reachable_ratio('flops')
    assert 0.2 < smallest < 0.5
    # the smallest structure is really that small: keep ratios at min_keep
    assert all(m.keep_ratio.item() == 1.0 for m in algo.mutator.dms_mutables())
    with pytest.raises(ValueError) as error:
        _tiny(_Tiny(), target_flops_ratio=smallest * 0.9, mutator=unit_cfg)
    message = str(error.value)
    assert 'is below what this model can reach' in message
    assert f'the flops ratio is {smallest:.4g}' in message
    assert 'target_flops_ratio' in message and 'min_keep' in message
    _tiny(_Tiny(), target_flops_ratio=smallest * 1.01, mutator=unit_cfg)  # reachable


def test_a_model_with_nothing_to_search_is_an_error():
    with pytest.raises(ValueError, match=r'nothing to search in the architecture '
                       r'\(_NothingToSearch\): no channel unit can be searched'):
        _tiny(_NothingToSearch(), target_flops_ratio=0.5)


def test_a_unit_a_custom_layer_consumes_is_excluded_or_an_error_as_configured():
    with collect_logs() as messages:
        algo = _tiny(_Tiny(_PerChannelScale(8)), target_flops_ratio=0.5)
    (name, reason), = algo.mutator.excluded_units.items()
    assert name.startswith('stem') and 'custom (_PerChannelScale: ' in reason
    warnings = [m for level, m in messages if level == logging.WARNING]
    assert any(name in m and 'custom (_PerChannelScale: ' in m and 'stay at full width' in m
               for m in warnings), warnings
    assert [u.name for u in algo.mutator.searchable_units] == ['mid_(0, 16)_16']

    with pytest.raises(ValueError) as error:
        _tiny(_Tiny(_PerChannelScale(8)), target_flops_ratio=0.5, unsearchable_units='error')
    message = str(error.value)
    assert "unsearchable_units='error'" in message
    assert name in message and 'custom (_PerChannelScale: ' in message
    with pytest.raises(ValueError, match='unsearchable_units must be one of'):
        _tiny(_Tiny(), target_flops_ratio=0.5, unsearchable_units='skip')


@pytest.mark.parametrize('kwargs,message', [
    (dict(target_flop_ratio=0.5),
     "model (DMSAlgorithm): unknown key 'target_flop_ratio'; did you mean "
     "'target_flops_ratio'?"),
    (dict(target_flops_ratio=0.5, mutator=dict(depht=dict(enabled=False))),
     "model.mutator (DMSMutator): unknown key 'depht'; did you mean 'depth'?"),
    (dict(target_flops_ratio=0.5, mutator=dict(channel_unit_cfg=dict(
        type='DMSChannelUnit', default_args=dict(min_kep=0.1)))),
     "model.mutator.channel_unit_cfg.default_args (DMSChannelUnit): unknown key 'min_kep'; "
     "did you mean 'min_keep'?"),
])
def test_a_misspelled_dms_key_names_it_and_the_closest_known_key(kwargs, message):
    with pytest.raises(TypeError) as error:
        _tiny(_Tiny(), **kwargs)
    assert str(error.value).startswith(message)


def test_a_downstream_architecture_that_lost_its_scope(tmp_path):
    """``_delete_=True`` replaces the inherited architecture and its ``_scope_``."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    def downstream(types):
        path = tmp_path / f'downstream{len(types[0])}.py'
        path.write_text(
            "_base_ = ['dms_mm::dms/resnet/dms_resnet18-w16_search_glyphs.py']\n"
            'model = dict(architecture=dict(\n'
            f"    _delete_=True, type='{types[0]}ImageClassifier',\n"
            f"    backbone=dict(type='{types[0]}ResNet_CIFAR', depth=18, base_channels=16,\n"
            '                  stem_channels=16),\n'
            f"    neck=dict(type='{types[1]}GlobalAveragePooling'),\n"
            f"    head=dict(type='{types[1]}LinearClsHead', num_classes=10, in_channels=128)))\n")
        with DefaultScope.overwrite_default_scope('mmrazor'):
            return MODELS.build(Config.fromfile(str(path)).model)

    # the type names its package: built there, the default parts included
    algorithm = downstream(('mmpretrain.', ''))
    assert type(algorithm.architecture.data_preprocessor).__name__ == 'ClsDataPreprocessor'
    assert len(algorithm.mutator.searchable_units) == 12
    # no package named anywhere: the error says what to add
    with pytest.raises(KeyError, match=r"ImageClassifier is not in the mmrazor::model registry"
                       r".*no _scope_.*_scope_='mmpretrain'"):
        downstream(('', ''))
