import math

import pytest
import torch
from mmengine.runner import load_checkpoint, save_checkpoint
from mmpretrain.structures import DataSample
from mmrazor.registry import MODELS

from dms_test_utils import build_classifier


def _algorithm(**kwargs):
    cfg = dict(
        _scope_='mmrazor',
        type='DMSAlgorithm',
        architecture=dict(
            _scope_='mmpretrain', type='ImageClassifier',
            backbone=dict(type='ResNet', depth=18), neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=512)),
        mutator=dict(type='DMSMutator', parse_cfg=dict(
            type='ChannelAnalyzer', demo_input=(1, 3, 32, 32), tracer_type='FxTracer')),
        data_preprocessor=dict(num_classes=10, mean=[0, 0, 0], std=[1, 1, 1]))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def _batch(n=4):
    inputs = torch.rand(n, 3, 32, 32)
    samples = [DataSample().set_gt_label(i % 10) for i in range(n)]
    return inputs, samples


def test_loss_dict_has_task_resource_and_logged_ratios():
    algo = _algorithm(target_flops_ratio=0.5)
    algo.set_search_state('search', 0.8)
    losses = algo(*_batch(), mode='loss')
    assert {'loss', 'loss_resource', 'flops_ratio', 'params_ratio', 'target_ratio'} <= set(losses)
    assert losses['flops_ratio'].item() == pytest.approx(1.0)
    assert losses['target_ratio'].item() == pytest.approx(0.8)
    # two-sided log loss at ratio 1.0 against 0.8
    assert losses['loss_resource'].item() == pytest.approx(math.log(1 / 0.8), rel=1e-5)
    parsed, log_vars = algo.parse_losses(losses)
    assert parsed.item() == pytest.approx(losses['loss'].item() + losses['loss_resource'].item())
    assert 'flops_ratio' in log_vars


def test_resource_loss_forms():
    algo = _algorithm(target_flops_ratio=0.5, two_sided=False)
    ratio = torch.tensor(0.6)
    assert algo.resource_loss(ratio, 0.5).item() == pytest.approx(math.log(1.2))
    assert algo.resource_loss(torch.tensor(0.4), 0.5).item() == 0.0
    algo = _algorithm(target_flops_ratio=0.5, loss_type='l2', loss_weight=10.0)
    assert algo.resource_loss(ratio, 0.5).item() == pytest.approx(0.1)
    assert algo.resource_loss(torch.tensor(0.4), 0.5).item() == pytest.approx(0.1)


def test_targets_as_ratio_absolute_flops_or_params():
    algo = _algorithm(target_flops_ratio=0.4)
    supernet_flops = algo.mutator.supernet_flops
    assert (algo.target_kind, algo.final_target_ratio) == ('flops', 0.4)
    algo = _algorithm(target_flops=0.25 * supernet_flops)
    assert algo.target_kind == 'flops' and algo.final_target_ratio == pytest.approx(0.25)
    algo = _algorithm(target_params=0.5 * algo.mutator.supernet_params)
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
        _algorithm(**kwargs)


def test_training_without_the_scheduler_hook_fails_loudly():
    algo = _algorithm(target_flops_ratio=0.5)
    with pytest.raises(RuntimeError, match='DMSSchedulerHook'):
        algo(*_batch(), mode='loss')


def test_eval_uses_hard_masks_and_predicts():
    algo = _algorithm(target_flops_ratio=0.5).eval()
    with torch.no_grad():
        preds = algo(*_batch(2), mode='predict')
    assert len(preds) == 2
    assert all(m._mask_mode == 'hard' for m in algo.mutator.dms_mutables())


def test_structure_only_search_keeps_weights_and_updates_bn_statistics():
    algo = _algorithm(target_flops_ratio=0.5, train_model=False)
    algo.train()
    assert not algo.architecture.backbone.conv1.weight.requires_grad
    assert not algo.architecture.backbone.layer1[0].conv1.training
    bn = algo.architecture.backbone.bn1
    assert bn.training
    before = bn.running_mean.clone()
    algo.set_search_state('search', 0.7)
    losses = algo(*_batch(), mode='loss')
    algo.parse_losses(losses)[0].backward()
    assert not torch.equal(before, bn.running_mean)
    assert algo.architecture.backbone.conv1.weight.grad is None
    assert algo.mutator.units[0].mutable_channel.keep_ratio.grad is not None


def test_search_from_a_pretrained_checkpoint(tmp_path):
    pretrained = build_classifier('resnet18')
    path = tmp_path / 'pretrained.pth'
    save_checkpoint(pretrained.state_dict(), str(path))
    algo = _algorithm(target_flops_ratio=0.5)
    load_checkpoint(algo.architecture, str(path), map_location='cpu')
    torch.testing.assert_close(algo.architecture.backbone.conv1.weight,
                               pretrained.backbone.conv1.weight)
