"""A search under a latency target: the soft latency from a measured table,
its gradient, the calibration, the fallbacks and the errors, and the export."""
import json
import logging

import pytest
import torch

from dms_mm.resources import LatencyTable, LatencyTableError, SoftLatencyEstimator
from dms_mm.resources.latency_estimator import _Grids
from dms_mm.resources.latency_table import measure_latency_table
from dms_mm.structures.export import export_subnet
from dms_test_utils import (
    build_classifier,
    classifier_batch,
    collect_logs,
    dms_model,
    growing_latency_table,
    randomize_structure,
    resnet18_algorithm,
)


@pytest.fixture(scope='module')
def tables(tmp_path_factory):
    """The table of the algorithm's ResNet-18 at 32x32 (timed once, quickly),
    and as ``plain`` the same grids with timings that grow with the widths and
    no calibration: two runs a point on a busy machine need not, and the
    tests of a target need the estimate to follow the structure."""
    algo = resnet18_algorithm(target_flops_ratio=0.5)
    table = measure_latency_table(algo.architecture, algo.mutator, steps=3, iters=2, warmup=1,
                                  architecture=algo.architecture, calibration=(0.5, 0.25))
    folder = tmp_path_factory.mktemp('latency')
    plain = growing_latency_table(table)
    table.save(str(folder / 'calibrated.json'))
    plain.save(str(folder / 'plain.json'))
    return dict(calibrated=(str(folder / 'calibrated.json'), table),
                plain=(str(folder / 'plain.json'), plain))


def test_piecewise_linear_reading_and_its_slope():
    # one layer: in widths 4, 8, 16 (out: one width), and a layer of one width
    grids = _Grids([dict(in_channels=[4, 8, 16], out_channels=[2], ms=[[1.0], [2.0], [6.0]]),
                    dict(in_channels=[5], out_channels=[2], ms=[[1.0]])])

    def read(c_in):
        return grids.read(torch.stack([c_in, torch.tensor(5.0)]), torch.tensor([2.0, 2.0]))

    x = torch.tensor(12.0, requires_grad=True)
    value = read(x)
    assert value.tolist() == pytest.approx([4.0, 1.0])
    value.sum().backward()
    assert x.grad.item() == pytest.approx(4 / 8)  # the slope of the segment
    assert read(torch.tensor(8.0)).tolist() == pytest.approx([2.0, 1.0])
    assert read(torch.tensor(40.0)).tolist() == pytest.approx([6.0, 1.0])  # held at the ends
    assert read(torch.tensor(1.0)).tolist() == pytest.approx([1.0, 1.0])


def test_the_supernet_estimate_is_the_measured_model_and_a_step_has_its_gradient(tables):
    path, table = tables['plain']
    algo = resnet18_algorithm(target_flops_ratio=None, target_latency_ratio=0.8, latency_table=path)
    mutator = algo.mutator
    assert algo.target_kind == 'latency' and algo.final_target_ratio == 0.8
    assert mutator.supernet_latency == pytest.approx(table.meta['model_ms'], rel=1e-5)
    assert not mutator.latency.fallback
    model_ms = table.meta['model_ms']
    # where the layers timed alone add up to more than the model: scaled onto it (a table
    # made so: whether the measured one does is the busy machine's to say)
    big = mutator.use_latency_table(growing_latency_table(table, unit=1.0))
    full = big.full_layers_ms()
    assert full > model_ms
    assert (big.scale, big.offset) == (pytest.approx(model_ms / full), 0.0)
    # where they add up to less: the layers as timed, the rest of the model a constant
    small = mutator.use_latency_table(growing_latency_table(table, unit=1e-9))
    assert small.full_layers_ms() < model_ms
    assert (small.scale, small.offset) == (1.0, pytest.approx(model_ms - small.full_layers_ms()))
    assert mutator.supernet_latency == pytest.approx(model_ms)
    mutator.use_latency_table(LatencyTable.load(path))
    assert 'SoftLatencyEstimator(' in repr(mutator.latency) and 'timed layer calls' in repr(
        mutator.latency)
    algo.set_search_state('search', 0.8)
    losses = algo(*classifier_batch(), mode='loss')
    assert losses['latency_ratio'].item() == pytest.approx(1.0, rel=1e-5)
    assert losses['latency_ms'].item() == pytest.approx(table.meta['model_ms'], rel=1e-5)
    assert losses['loss_resource'].item() == pytest.approx(-torch.log(torch.tensor(0.8)).item(),
                                                           rel=1e-4)
    # the gradient reaches every width and the depth, as the FLOPs' does (ranked
    # elements: with equal importances a mask has no slope)
    randomize_structure(mutator, seed=1)
    with torch.no_grad():
        assert 0 < float(mutator.soft_resources()['latency']) < mutator.supernet_latency

    def reached(kind):
        for m in mutator.dms_mutables():
            m.keep_ratio.grad = None
        mutator.soft_resources(grad=(kind, ))[kind].backward()
        return [m.keep_ratio.grad is not None and bool(m.keep_ratio.grad.abs().sum() > 0)
                for m in mutator.dms_mutables()]

    flops = reached('flops')
    assert sum(flops) >= len(flops) - 1
    assert reached('latency') == flops
    losses = algo(*classifier_batch(), mode='loss')
    assert 0 < losses['latency_ratio'].item() < 1 and torch.isfinite(losses['loss_resource'])


def test_the_calibration_times_the_static_model_at_smaller_widths(tables):
    path, table = tables['calibrated']
    points = table.meta['calibration']
    assert [p['width_ratio'] for p in points] == [0.5, 0.25]
    # (which width times faster is the machine's to say: beside other jobs the quarter-width
    # layers once timed slower than the half-width ones, 3.16 ms against 2.76)
    assert all(p['model_ms'] > 0 and p['layers_ms'] > 0 for p in points)
    # the estimate maps the layers' sum onto the model by the line through the points
    exact = dict(table.meta, calibration=[dict(width_ratio=r, layers_ms=x, model_ms=2 * x + 1)
                                          for r, x in ((0.5, 4.0), (0.25, 2.0))])
    algo = resnet18_algorithm(target_flops_ratio=0.5)
    estimator = SoftLatencyEstimator(algo.mutator.resources.counters,
                                     LatencyTable(exact, table.layers), algo.mutator.supernet_flops)
    layers, model_ms = estimator.full_layers_ms(), table.meta['model_ms']
    # the line through the measured full width, its slope fitted to the two points
    dxs, dys = [4.0 - layers, 2.0 - layers], [9.0 - model_ms, 5.0 - model_ms]
    slope = sum(x * y for x, y in zip(dxs, dys)) / sum(x * x for x in dxs)
    if model_ms - slope * layers >= 0:
        assert estimator.scale == pytest.approx(slope)
        assert estimator.offset == pytest.approx(model_ms - slope * layers)
    else:  # it would cross 0 ms: scaled through the origin instead
        assert (estimator.scale, estimator.offset) == (pytest.approx(model_ms / layers), 0.0)
    assert estimator.full_ms() == pytest.approx(model_ms)


def test_a_layer_missing_from_the_table_is_counted_from_its_flops_with_a_warning(tables):
    _, table = tables['plain']
    layers = dict(table.layers)
    missing = 'backbone.layer3.0.conv1'
    del layers[missing]
    algo = resnet18_algorithm(target_flops_ratio=0.5)
    with collect_logs() as messages:
        estimator = algo.mutator.use_latency_table(LatencyTable(table.meta, layers))
    assert [c.name for c, _ in estimator.fallback] == [missing]
    warnings = [m for level, m in messages if level == logging.WARNING]
    assert any(missing in m and 'FLOPs' in m for m in warnings), warnings
    with torch.no_grad():
        assert torch.isfinite(algo.mutator.soft_resources()['latency'])


def test_bad_latency_settings_are_refused_at_preparation(tables, tmp_path):
    path, table = tables['plain']
    with pytest.raises(ValueError, match='need a latency_table'):
        resnet18_algorithm(target_flops_ratio=None, target_latency=1.0)
    with pytest.raises(ValueError, match='exactly one of'):
        resnet18_algorithm(target_flops_ratio=0.5, target_latency_ratio=0.8, latency_table=path)
    with pytest.raises(ValueError, match='path'):
        resnet18_algorithm(target_latency_ratio=0.8, target_flops_ratio=None,
                   latency_table=dict(file=path))
    # a table of another model: none of its layers is here
    _, mutator = dms_model('mobilenet-v2')
    other = measure_latency_table(build_classifier('mobilenet-v2'), mutator, steps=2, iters=1,
                                  warmup=0)
    other.save(str(tmp_path / 'mobilenet.json'))
    with pytest.raises(LatencyTableError, match='another model'):
        resnet18_algorithm(target_flops_ratio=None, target_latency_ratio=0.8,
                   latency_table=str(tmp_path / 'mobilenet.json'))
    # a table of another device: refused unless the config says so
    data = table.to_dict()
    data['meta'].update(device='cuda', device_name='NVIDIA H200')
    (tmp_path / 'gpu.json').write_text(json.dumps(data))
    with pytest.raises(LatencyTableError, match='measured elsewhere'):
        resnet18_algorithm(target_flops_ratio=None, target_latency_ratio=0.8,
                   latency_table=str(tmp_path / 'gpu.json'))
    algo = resnet18_algorithm(target_flops_ratio=None, target_latency_ratio=0.8,
                      latency_table=dict(path=str(tmp_path / 'gpu.json'),
                                         allow_other_device=True))
    assert algo.target_kind == 'latency'


def test_a_params_limit_beside_a_latency_target(tables):
    path, _ = tables['plain']
    supernet = resnet18_algorithm(target_flops_ratio=0.5).mutator.supernet_params
    algo = resnet18_algorithm(target_flops_ratio=None, target_latency_ratio=0.8, latency_table=path,
                      max_params=0.5 * supernet)
    algo.set_search_state('search', 0.8)
    losses = algo(*classifier_batch(), mode='loss')
    assert losses['loss_params'].item() == pytest.approx(-torch.log(torch.tensor(0.5)).item(),
                                                         rel=1e-4)
    losses['loss_params'].backward()
    assert any(m.keep_ratio.grad is not None and m.keep_ratio.grad.abs().sum() > 0
               for m in algo.mutator.dms_mutables())
    algo.set_search_state('fixed', 0.5)
    assert algo(*classifier_batch(), mode='loss')['loss_params'].item() == 0.0
    assert 'max_params' in algo.extra_repr()
    with pytest.raises(ValueError, match='max_params'):
        resnet18_algorithm(target_flops_ratio=0.5, max_params=10.0)


def test_the_export_lands_on_the_latency_target(tables, tmp_path):
    path, _ = tables['plain']
    algo = resnet18_algorithm(target_flops_ratio=None, target_latency_ratio=0.8, latency_table=path)
    randomize_structure(algo.mutator, seed=0, low=0.4)
    subnet = export_subnet(algo, str(tmp_path / 'out'), scale=True)
    res = subnet['resources']
    target_ms = 0.8 * res['supernet_latency_ms']
    assert 0.9 * target_ms <= res['soft_latency_ms'] <= target_ms
    assert res['supernet_latency_ms'] == pytest.approx(algo.mutator.supernet_latency)
    written = json.loads((tmp_path / 'out' / 'subnet.json').read_text())
    assert written['resources']['soft_latency_ms'] == pytest.approx(res['soft_latency_ms'])
