import math
from types import SimpleNamespace

import pytest

from dms_mm.algorithms import schedule_value
from dms_mm.engine import DMSSchedulerHook


@pytest.mark.parametrize('schedule,mid', [
    ('root', 0.25**0.5),
    ('linear', 1 - 0.75 * 0.5),
    ('cos', 0.25 + 0.75 * 0.5),
    ('none', 0.25),
])
def test_schedules_run_from_one_to_the_final_target(schedule, mid):
    start = 1.0 if schedule != 'none' else 0.25
    assert schedule_value(schedule, 0.25, 0.0) == pytest.approx(start)
    assert schedule_value(schedule, 0.25, 0.5) == pytest.approx(mid)
    assert schedule_value(schedule, 0.25, 1.0) == pytest.approx(0.25)
    values = [schedule_value(schedule, 0.25, t / 10) for t in range(11)]
    assert all(a >= b - 1e-12 for a, b in zip(values, values[1:]))


def _hook(**kwargs):
    hook = DMSSchedulerHook(**kwargs)
    hook._final = 0.3
    return hook


def test_phases_over_iterations():
    hook = _hook(decay_ratio=0.6, refine_ratio=0.3, pretrain_ratio=0.1)
    phases = [hook.phase_at(i, 100) for i in range(100)]
    assert phases[0] == ('pretrain', 1.0) and phases[9][0] == 'pretrain'
    assert phases[10] == ('search', 1.0)
    assert phases[69] == ('search', pytest.approx(0.3))
    assert phases[70] == ('refine', 0.3) and phases[99] == ('refine', 0.3)
    hook = _hook(decay_ratio=0.5, refine_ratio=0.2)
    assert hook.phase_at(70, 100)[0] == 'fixed'


def test_by_epoch_steps_once_an_epoch():
    hook = _hook(by_epoch=True, decay_ratio=0.8, refine_ratio=0.2)
    targets = [hook.phase_at(e, 10) for e in range(10)]
    assert [p for p, _ in targets] == ['search'] * 8 + ['refine'] * 2
    assert targets[0][1] == 1.0 and targets[7][1] == pytest.approx(0.3)
    assert targets[3][1] == pytest.approx(0.3**(3 / 7))


@pytest.mark.parametrize('kwargs,match', [
    (dict(schedule='cosine'), 'schedule must be one of'),
    (dict(decay_ratio=0.9, refine_ratio=0.2), 'must be <= 1'),
    (dict(decay_ratio=0.0), 'decay_ratio must be > 0'),
    (dict(refine_ratio=-0.1), r'must be in \[0, 1\]'),
])
def test_bad_settings_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DMSSchedulerHook(**kwargs)


def test_defaults_never_crash_over_a_whole_run():
    for schedule in ('root', 'linear', 'cos', 'none'):
        hook = _hook(schedule=schedule)
        for total in (1, 2, 7, 100):
            for i in range(total):
                phase, target = hook.phase_at(i, total)
                assert math.isfinite(target) and 0.3 - 1e-9 <= target <= 1.0


# ------------------------------------------------------------------ a run's steps
def _resnet_algorithm(base_channels=16, depth=True):
    """A narrow ResNet-18 (stem and first stage 16 channels) under DMS."""
    from mmrazor.registry import MODELS

    return MODELS.build(dict(
        _scope_='mmrazor', type='DMSAlgorithm', target_flops_ratio=0.5,
        architecture=dict(
            _scope_='mmpretrain', type='ImageClassifier',
            backbone=dict(type='ResNet', depth=18, stem_channels=16,
                          base_channels=base_channels),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=8 * base_channels)),
        mutator=dict(type='DMSMutator', parse_cfg=dict(
            type='ChannelAnalyzer', demo_input=(1, 3, 32, 32), tracer_type='FxTracer'),
            depth=dict(enabled=depth)),
        data_preprocessor=dict(num_classes=10, mean=[0, 0, 0], std=[1, 1, 1])))


def _runner(algorithm, max_iters=10, name='dms_hook_test'):
    import torch
    from mmengine.logging import MessageHub
    from mmengine.optim import OptimWrapper

    structure = [p for n, p in algorithm.named_parameters() if 'mutator' in n]
    weights = [p for n, p in algorithm.named_parameters() if 'mutator' not in n]
    optimizer = torch.optim.SGD([dict(params=weights), dict(params=structure, lr=0.05,
                                                              fixed_lr=0.05)],
                                lr=0.01, momentum=0.9)
    return SimpleNamespace(model=algorithm, optim_wrapper=OptimWrapper(optimizer),
                           message_hub=MessageHub.get_instance(name), iter=0,
                           max_iters=max_iters, epoch=0, max_epochs=1)


def _step(hook, runner, seed=0):
    """One training iteration as mmengine runs it, hooks included."""
    import torch
    from mmpretrain.structures import DataSample

    gen = torch.Generator().manual_seed(seed)
    data = dict(inputs=torch.rand(2, 3, 16, 16, generator=gen),
                data_samples=[DataSample().set_gt_label(i) for i in range(2)])
    hook.before_train_iter(runner, runner.iter)
    runner.model.train_step(data, runner.optim_wrapper)
    hook.after_train_iter(runner, runner.iter)
    runner.iter += 1


def _keeps(algorithm):
    import torch

    return torch.stack([m.keep_ratio.detach().clone()
                        for m in algorithm.mutator.dms_mutables()])


def test_refine_freezes_and_hardens_depth_while_width_goes_on():
    from dms_test_utils import dms_model

    _, mutator = dms_model('mobilenet-v2')
    algorithm = SimpleNamespace(mutator=mutator)
    DMSSchedulerHook()._enter(algorithm, 'refine')
    assert all(m.frozen for m in mutator.stages)
    assert all(not u.mutable_channel.frozen for u in mutator.units)
    mutator.refresh_masks('track')
    assert all(set(m.mask.tolist()) <= {0.0, 1.0} for m in mutator.stages)
    assert all(u.mutable_channel.mask.requires_grad for u in mutator.units)
    # the frozen keep ratios stay in the graph with a zero gradient (DDP was built
    # expecting one); evaluation and export get plain hard masks
    for m in mutator.stages:
        assert m.keep_ratio.requires_grad and m.mask.requires_grad
        m.mask.sum().backward()
        assert m.keep_ratio.grad.item() == 0.0
    mutator.refresh_masks('hard')
    assert all(not m.mask.requires_grad for m in mutator.stages)


def test_frozen_keep_ratios_do_not_move_although_momentum_would_move_them():
    algorithm = _resnet_algorithm()
    for mutable in algorithm.mutator.stages:  # away from the clamp at 1.0
        mutable.keep_ratio.data.fill_(0.8)
    runner = _runner(algorithm, max_iters=5)
    hook = DMSSchedulerHook(decay_ratio=0.6, refine_ratio=0.4)
    hook.before_train(runner)
    for _ in range(3):  # search: the keep ratios move, and gather momentum
        _step(hook, runner)
    depth = [m.keep_ratio.item() for m in algorithm.mutator.stages]
    assert all(d != 0.8 for d in depth)
    widths = _keeps(algorithm)
    for _ in range(2):  # refine
        _step(hook, runner)
    assert hook._phase == 'refine'
    assert [m.keep_ratio.item() for m in algorithm.mutator.stages] == depth
    assert not math.isclose(float((_keeps(algorithm) - widths).abs().sum()), 0.0)
    hook.after_train(runner)


def test_a_resumed_run_enters_its_phase_again():
    algorithm = _resnet_algorithm()
    runner = _runner(algorithm, max_iters=10)
    runner.iter = 7  # restored from a checkpoint of the refine phase
    hook = DMSSchedulerHook(decay_ratio=0.5, refine_ratio=0.5)
    hook.before_train(runner)
    hook.before_train_iter(runner, 0)
    assert hook._phase == 'refine' and algorithm.phase == 'refine'
    assert all(m.frozen for m in algorithm.mutator.stages)
    assert algorithm.current_target_ratio == pytest.approx(0.5)


@pytest.fixture
def log_messages():
    """Messages logged through mmengine's current logger during the test."""
    import logging

    from mmengine.logging import MMLogger

    messages = []

    class _Collect(logging.Handler):

        def emit(self, record):
            messages.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = _Collect(level=logging.DEBUG)
    logger.addHandler(handler)
    yield messages
    logger.removeHandler(handler)


def test_non_finite_structure_gradients_skip_the_structure_step_only(log_messages):
    import torch

    algorithm = _resnet_algorithm()
    runner = _runner(algorithm, name='dms_hook_non_finite')
    hook = DMSSchedulerHook()
    hook.before_train(runner)
    _step(hook, runner)
    poisoned = algorithm.mutator.searchable_units[0]
    for count, value in enumerate((float('nan'), float('inf')), start=1):
        keeps, weight = _keeps(algorithm), algorithm.architecture.head.fc.weight.detach().clone()
        handle = poisoned.mutable_channel.keep_ratio.register_hook(
            lambda grad, value=value: torch.full_like(grad, value))
        _step(hook, runner, seed=count)
        handle.remove()
        assert torch.equal(_keeps(algorithm), keeps)  # no keep ratio stepped ...
        assert not torch.equal(algorithm.architecture.head.fc.weight, weight)  # ... weights did
        assert hook.skipped_steps == count
        hub = runner.message_hub.get_scalar('train/skipped_structure_steps')
        assert hub.current() == count
    warnings = [m for m in log_messages if 'NaN/Inf' in m]
    assert len(warnings) == 2 and 'iteration 2' in warnings[0] and 'iteration 3' in warnings[1]
    assert poisoned.name in warnings[0] and '(2 structure step(s) skipped so far)' in warnings[1]
    keeps = _keeps(algorithm)
    _step(hook, runner, seed=3)  # and the search goes on
    assert not torch.equal(_keeps(algorithm), keeps) and hook.skipped_steps == 2
    hook.after_train(runner)


def test_a_nan_structure_gradient_never_reaches_the_weights_through_clipping():
    """DeiT's schedule clips gradients (mmengine clips before the optimizer
    step, where the NaN guard drops the structure gradients)."""
    import torch

    from dms_mm.engine.optimizers import DMSOptimWrapperConstructor

    algorithm = _resnet_algorithm()
    runner = _runner(algorithm, name='dms_hook_nan_clip')
    runner.optim_wrapper = DMSOptimWrapperConstructor(
        dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9),
             clip_grad=dict(max_norm=1.0)),
        dict(custom_keys={'mutator': dict(lr=0.05)}))(algorithm)
    hook = DMSSchedulerHook()
    hook.before_train(runner)
    keep_ratio = algorithm.mutator.searchable_units[0].mutable_channel.keep_ratio
    handle = keep_ratio.register_hook(lambda grad: torch.full_like(grad, float('nan')))
    keeps = _keeps(algorithm)
    _step(hook, runner)
    handle.remove()
    weights = [p for n, p in algorithm.named_parameters() if 'mutator' not in n]
    assert all(torch.isfinite(p).all() for p in weights)
    assert torch.equal(_keeps(algorithm), keeps) and hook.skipped_steps == 1
    # the logged norm is the weights' own, clipped to max_norm
    assert math.isfinite(runner.message_hub.get_scalar('train/grad_norm').current())
    _step(hook, runner, seed=1)
    assert not torch.equal(_keeps(algorithm), keeps)
    assert all(torch.isfinite(p).all() for p in algorithm.parameters())
    hook.after_train(runner)


def test_loss_scale_is_removed_from_importance_and_structure_gradients():
    """float16 AMP multiplies the loss by the scale of a GradScaler: the Taylor
    scores are divided by it, and the GradScaler unscales the structure
    gradients before the step pre-hook and the optimizer see them."""
    import copy

    import torch

    algorithm = _resnet_algorithm()
    scaled = copy.deepcopy(algorithm)
    results = []
    for model, scale in ((algorithm, None), (scaled, 2.0**12)):
        runner = _runner(model, name=f'dms_hook_scale_{scale}')
        hook = DMSSchedulerHook()
        hook.before_train(runner)
        model.set_search_state('search', 0.8)
        model.train()
        from mmpretrain.structures import DataSample
        gen = torch.Generator().manual_seed(0)
        data = model.data_preprocessor(
            dict(inputs=torch.rand(4, 3, 32, 32, generator=gen),
                 data_samples=[DataSample().set_gt_label(i) for i in range(4)]), True)
        loss, _ = model.parse_losses(model(**data, mode='loss'))
        optimizer = runner.optim_wrapper.optimizer
        if scale is None:
            loss.backward()
            optimizer.step()
            model.mutator.update_importance(1.0)
        else:
            scaler = torch.amp.GradScaler('cpu', init_scale=scale)
            scaler.scale(loss).backward()
            scaler.step(optimizer)  # unscales, then the pre-hook, then the step
            model.mutator.update_importance(float(scaler.get_scale()))
        results.append((_keeps(model), [m.importance.clone()
                                        for m in model.mutator.dms_mutables()]))
        hook.after_train(runner)
    (keeps, importance), (scaled_keeps, scaled_importance) = results
    torch.testing.assert_close(scaled_keeps, keeps)
    assert any(i.abs().sum() > 0 for i in importance)
    for a, b in zip(importance, scaled_importance):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-12)


def test_a_misspelled_key_names_the_closest_one():
    with pytest.raises(TypeError, match="unknown key 'decay_ration'; did you mean "
                       "'decay_ratio'"):
        DMSSchedulerHook(decay_ration=0.8)


def _checkpoint_of(model):
    return dict(meta=dict(epoch=1, iter=4), state_dict=model.state_dict())


def test_resume_from_a_checkpoint_of_another_structure_is_refused(tmp_path):
    algorithm = _resnet_algorithm()
    runner = _runner(algorithm)
    runner._resume, runner._load_from, runner.work_dir = True, 'work/epoch_1.pth', str(tmp_path)
    hook = DMSSchedulerHook()
    hook.after_load_checkpoint(runner, _checkpoint_of(algorithm))  # the same structure
    other = _resnet_algorithm(base_channels=32, depth=False)
    with pytest.raises(ValueError) as error:
        hook.after_load_checkpoint(runner, _checkpoint_of(other))
    message = str(error.value)
    assert message.startswith('DMSSchedulerHook: cannot resume from work/epoch_1.pth: it '
                              'was saved from another structure')
    assert ('architecture.backbone.layer1.0.conv1.weight: (32, 16, 3, 3) in the checkpoint, '
            '(16, 16, 3, 3) here') in message
    assert 'mutator.stages.0.keep_ratio' in message  # in the model, not in the file
    runner._resume = False  # load_from (e.g. pretrained weights) is not checked here
    hook.after_load_checkpoint(runner, _checkpoint_of(other))
