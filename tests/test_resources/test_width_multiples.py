"""Widths the device likes: the divisor whose multiples run fastest, found by
timing; the export rounds to it and a search groups its channels by it."""
import math
from types import SimpleNamespace

import numpy as np
import pytest

from dms_mm.engine.hooks import DMSExportHook
from dms_mm.resources import divisor_gains, measure_width_multiples, preferred_divisor
from dms_mm.resources.latency_table import LatencyTable, measure_latency_table
from dms_mm.structures.export import export_subnet
from dms_test_utils import growing_latency_table, randomize_structure, resnet18_algorithm
from tools import export_subnet as export_tool


def _stairs(width, step, noise=0.0, seed=0):
    """A kernel that runs blocks of ``step`` channels, and a slower tail path
    for a width that is not a multiple of ``step`` (as oneDNN's do)."""
    rng = np.random.default_rng(seed + int(width))
    tail = 1.0 if width % step == 0 else 1.1
    return (0.05 + 0.01 * math.ceil(width / step) * step * tail
            * (1 + noise * rng.standard_normal()))


@pytest.mark.parametrize('step', [8, 16])
def test_a_kernel_in_blocks_prefers_the_block_and_a_line_prefers_none(step):
    widths = list(range(65, 129))
    gains = divisor_gains(widths, [_stairs(w, step, noise=0.005) for w in widths])
    assert preferred_divisor(gains) == step
    assert gains[step] > 0.03 and gains[2] < gains[step] / 2
    line = divisor_gains(widths, [0.05 + 0.01 * w * (1 + 0.005 * np.sin(w)) for w in widths])
    assert max(line.values()) < 0.03 and preferred_divisor(line) == 1
    assert preferred_divisor({}) == 1
    with pytest.raises(ValueError, match='as many timings as widths'):
        divisor_gains([8, 16, 24], [1.0, 2.0])


def _stair_timer(step):
    """A timer that reads the width off the layer's output: no clock, so the
    tests do not depend on how busy the machine is."""
    def timer(fn):
        return _stairs(fn().shape[1], step)
    return timer


@pytest.fixture(scope='module')
def table_with_multiples(tmp_path_factory):
    """The algorithm's table (timings growing with the widths) with the
    multiples of a device that runs blocks of 8 channels, and one without."""
    algo = resnet18_algorithm(target_flops_ratio=0.5)
    measured = measure_latency_table(algo.architecture, algo.mutator, steps=2, iters=1,
                                     warmup=0, multiples=0)
    assert 'multiples' not in measured.meta and measured.preferred_divisor is None
    plain = growing_latency_table(measured)
    found = measure_width_multiples(algo.mutator, _stair_timer(8), layers=2, span=32,
                                    table=plain)
    folder = tmp_path_factory.mktemp('multiples')
    with_multiples = LatencyTable(dict(plain.meta, multiples=found), plain.layers)
    with_multiples.save(str(folder / 'multiples.json'))
    plain.save(str(folder / 'plain.json'))
    return dict(found=found, plain=plain, path=str(folder / 'multiples.json'),
                without=str(folder / 'plain.json'))


def test_the_most_expensive_layers_are_timed_up_to_their_full_width(table_with_multiples):
    found, plain = table_with_multiples['found'], table_with_multiples['plain']
    assert found['divisor'] == 8 and len(found['layers']) == 2
    # the two layers the table times slowest at full width, among the searched outputs
    full = {name: layer['ms'][-1][-1] for name, layer in plain.layers.items()
            if layer['counter'] in ('ConvCounter', 'LinearCounter')
            and len(layer['out_channels']) > 1}
    others = [ms for name, ms in full.items() if name not in found['layers']]
    assert min(full[name] for name in found['layers']) >= max(others)
    for name, layer in found['layers'].items():
        channels = plain.layers[name]['out_channels'][-1]
        assert layer['widths'] == list(range(channels - 31, channels + 1))
        assert dict(layer['gains'])[8] > 0.03
    reloaded = LatencyTable.load(table_with_multiples['path'])
    assert reloaded.preferred_divisor == 8 and 'multiples of 8' in repr(reloaded)


def test_the_export_rounds_to_the_tables_divisor(table_with_multiples, tmp_path):
    algo = resnet18_algorithm(target_flops_ratio=None, target_latency_ratio=0.6,
                              latency_table=table_with_multiples['path'])
    assert {u.mutable_channel.group_size for u in algo.mutator.searchable_units} == {1}
    randomize_structure(algo.mutator, seed=1, low=0.3)
    subnet = export_subnet(algo, str(tmp_path / 'out'), divisor='table')
    assert all(len(u['kept']) % 8 == 0 for u in subnet['units'])
    assert export_tool.parse_args(['c.py', 'k.pth', '--out-dir', 'o', '--divisor',
                                   'table']).divisor == 'table'
    assert export_tool.parse_args(['c.py', 'k.pth', '--out-dir', 'o', '--divisor',
                                   '4']).divisor == 4


def test_a_search_keeps_channels_in_groups_of_the_tables_divisor(table_with_multiples,
                                                                 tmp_path):
    algo = resnet18_algorithm(target_flops_ratio=None, target_latency_ratio=0.6,
                              latency_table=dict(path=table_with_multiples['path'],
                                                 group_size=True))
    units = algo.mutator.searchable_units
    assert {u.mutable_channel.group_size for u in units} == {8}  # widths 16 to 128
    randomize_structure(algo.mutator, seed=2, low=0.3)
    # whatever the search keeps comes in whole groups, without rounding at the export
    subnet = export_subnet(algo, str(tmp_path / 'out'))
    assert all(len(u['kept']) % 8 == 0 for u in subnet['units'])
    assert sorted({len(u['kept']) for u in subnet['units']}) != [16]  # not all the smallest
    # the table did not measure them: refused while the model is built
    with pytest.raises(ValueError, match='did not measure the widths'):
        resnet18_algorithm(target_flops_ratio=None, target_latency_ratio=0.6,
                           latency_table=dict(path=table_with_multiples['without'],
                                              group_size=True))


def test_an_export_divisor_that_cannot_be_resolved_fails_before_the_search(
        table_with_multiples):
    def runner(algo):
        return SimpleNamespace(model=algo)
    no_table = resnet18_algorithm(target_flops_ratio=0.5)
    with pytest.raises(ValueError, match='DMSExportHook: .*no latency_table'):
        DMSExportHook(divisor='table').before_train(runner(no_table))
    without = resnet18_algorithm(target_flops_ratio=None, target_latency_ratio=0.6,
                                 latency_table=table_with_multiples['without'])
    with pytest.raises(ValueError, match='did not measure the widths'):
        DMSExportHook(divisor='table').before_train(runner(without))
    with pytest.raises(ValueError, match="positive integer or 'table'"):
        DMSExportHook(divisor=0).before_train(runner(no_table))
    DMSExportHook(divisor=8).before_train(runner(no_table))
