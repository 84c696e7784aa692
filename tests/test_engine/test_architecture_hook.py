"""ArchitectureHook: hooks written for a bare model run on the model inside an algorithm."""
from types import SimpleNamespace

import pytest
from mmdet.engine.hooks import YOLOXModeSwitchHook
from mmengine.hooks import Hook
from mmrazor.registry import HOOKS
from torch import nn

import dms_mm  # noqa: F401


class _Head(nn.Module):
    use_l1 = False


class _Detector(nn.Module):

    def __init__(self):
        super().__init__()
        self.bbox_head = _Head()


class _Algorithm(nn.Module):

    def __init__(self):
        super().__init__()
        self.architecture = _Detector()


class _Dataset:
    skip_type_keys = None

    def update_skip_type_keys(self, keys):
        self.skip_type_keys = keys


def _runner(model, epoch, max_epochs=10):
    logs = []
    return SimpleNamespace(model=model, epoch=epoch, max_epochs=max_epochs,
                           train_dataloader=SimpleNamespace(dataset=_Dataset()),
                           logger=SimpleNamespace(info=logs.append), logs=logs)


def test_yolox_mode_switch_reaches_the_head_inside_the_algorithm():
    algorithm = _Algorithm()
    runner = _runner(algorithm, epoch=8)
    with pytest.raises(AttributeError, match='bbox_head'):
        YOLOXModeSwitchHook(num_last_epochs=2).before_train_epoch(runner)
    hook = HOOKS.build(dict(type='ArchitectureHook', hook=dict(
        type='mmdet.YOLOXModeSwitchHook', num_last_epochs=2, priority=48)))
    assert hook.priority == 48 and isinstance(hook.hook, YOLOXModeSwitchHook)
    assert hook.get_triggered_stages() == hook.hook.get_triggered_stages()
    hook.before_train_epoch(runner)
    assert algorithm.architecture.bbox_head.use_l1
    assert runner.train_dataloader.dataset.skip_type_keys == ('Mosaic', 'RandomAffine', 'MixUp')
    assert 'Add additional L1 loss now!' in runner.logs


def test_a_plain_model_is_handed_over_unchanged_and_writes_reach_the_runner():
    seen = []

    class Recorder(Hook):

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            seen.append((runner.model, batch_idx, outputs))
            runner.note = 'written'

    detector = _Detector()
    runner = _runner(detector, epoch=0)
    hook = HOOKS.build(dict(type='ArchitectureHook', hook=Recorder()))
    hook.after_train_iter(runner, batch_idx=3, outputs={'loss': 1.0})
    assert seen == [(detector, 3, {'loss': 1.0})]
    assert runner.note == 'written'


def test_a_hook_that_is_no_hook_is_named():
    with pytest.raises(TypeError, match='hook must be a Hook or its config, got int'):
        HOOKS.build(dict(type='ArchitectureHook', hook=3))
