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


def test_refine_freezes_and_hardens_depth_while_width_goes_on():
    from dms_test_utils import dms_model

    _, mutator = dms_model('mobilenet-v2')
    algorithm = SimpleNamespace(mutator=mutator)
    DMSSchedulerHook()._enter(algorithm, 'refine')
    assert all(m.frozen and not m.keep_ratio.requires_grad for m in mutator.stages)
    assert all(not u.mutable_channel.frozen for u in mutator.units)
    mutator.refresh_masks('track')
    assert all(set(m.mask.tolist()) <= {0.0, 1.0} for m in mutator.stages)
    assert all(u.mutable_channel.mask.requires_grad for u in mutator.units)
