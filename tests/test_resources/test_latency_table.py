"""Latency tables: what is timed, where, and how a layer's latency is read back."""
import json

import pytest
from mmengine.registry import DefaultScope

from dms_mm.resources.latency_table import (
    LatencyTable,
    LatencyTableError,
    measure_latency_table,
    width_grid,
)
from dms_test_utils import build_classifier, dms_model
from tools import measure_latency


@pytest.fixture(scope='module')
def resnet_table(repo_root, tmp_path_factory):
    out = tmp_path_factory.mktemp('latency') / 'resnet.json'
    # the tool sets the config's default scope: dropped afterwards, for the tests after it
    with DefaultScope.overwrite_default_scope('mmrazor'):
        measure_latency.main([f'{repo_root}/configs/dms/resnet/dms_resnet18-w16_search_glyphs.py',
                              '--out', str(out), '--iters', '2', '--warmup', '0', '--steps',
                              '4', '--threads', '1'])
    return out, LatencyTable.load(str(out))


def test_every_searched_layer_is_timed_over_its_grid_with_where_it_ran(resnet_table):
    path, table = resnet_table
    meta = table.meta
    assert meta['device'] == 'cpu' and meta['dtype'] == 'float32' and meta['threads'] == 1
    assert meta['batch_size'] == 1 and meta['input_shape'] == [1, 3, 32, 32]
    assert meta['model_ms'] > 0 and meta['torch'] and meta['device_name']
    # the stem and the convolutions of the four stages, their batch norms, the classifier
    convs = {n: v for n, v in table.layers.items() if v['counter'] == 'ConvCounter'}
    assert 'backbone.conv1' in convs and 'backbone.layer4.1.conv2' in convs
    assert table.layers['head.fc']['out_channels'] == [43]  # the classes are not searched
    stem = convs['backbone.conv1']
    assert stem['in_channels'] == [3] and stem['out_channels'] == [4, 8, 12, 16]
    inner = convs['backbone.layer2.0.conv1']
    assert inner['in_channels'] == [4, 8, 12, 16] and inner['out_channels'] == [8, 16, 24, 32]
    assert all(ms > 0 for layer in table.layers.values() for row in layer['ms'] for ms in row)
    assert json.load(open(path))['format'] == 1
    assert repr(table).startswith('LatencyTable(41 layers on cpu')
    # and the widths this CPU prefers: 4 layers, each at every width of a window (64, or
    # all of a narrower layer's) up to its full width
    multiples = table.meta['multiples']
    assert len(multiples['layers']) == 4 and isinstance(table.preferred_divisor, int)
    for name, layer in multiples['layers'].items():
        full = table.layers[name]['out_channels'][-1]
        assert layer['widths'] == list(range(max(1, full - 63), full + 1))
        assert len(layer['ms']) == len(layer['widths']) and min(layer['ms']) > 0
    assert f'multiples of {table.preferred_divisor}' in repr(table)


def test_a_layer_is_read_between_and_beyond_its_grid(resnet_table):
    _, table = resnet_table
    layer = table.layers['backbone.layer2.0.conv1']
    ms = layer['ms']
    assert table.lookup('backbone.layer2.0.conv1', 8, 16) == pytest.approx(ms[1][1])
    between = table.lookup('backbone.layer2.0.conv1', 10, 16)
    assert min(ms[1][1], ms[2][1]) <= between <= max(ms[1][1], ms[2][1])
    assert table.lookup('backbone.layer2.0.conv1', 1, 2) == pytest.approx(ms[0][0])
    with pytest.raises(LatencyTableError, match='no layer'):
        table.lookup('backbone.layer9.conv', 8, 8)


def test_depthwise_convolutions_and_norms_are_timed_at_one_width():
    model, mutator = dms_model('mobilenet-v2')
    table = measure_latency_table(build_classifier('mobilenet-v2'), mutator, steps=3, iters=1,
                                  warmup=0)
    depthwise = table.layers['backbone.layer2.0.conv.1.conv']
    assert depthwise['in_channels'] == depthwise['out_channels']
    assert all(len(set(row)) == 1 for row in depthwise['ms'])
    norm = table.layers['backbone.layer2.0.conv.1.bn']
    assert norm['counter'] == 'BatchNormCounter' and all(len(set(r)) == 1 for r in norm['ms'])


def test_a_table_of_another_device_is_refused_unless_asked_for(resnet_table, tmp_path):
    _, table = resnet_table
    assert table.check_device('cpu') is None
    other = LatencyTable(dict(table.meta, device_name='NVIDIA H200', device='cuda'),
                         table.layers)
    with pytest.raises(LatencyTableError, match='device_name'):
        other.check_device('cpu')
    assert 'NVIDIA H200' in other.check_device('cpu', allow_other=True)
    (tmp_path / 'old.json').write_text(json.dumps(dict(table.to_dict(), format=0)))
    with pytest.raises(LatencyTableError, match='format'):
        LatencyTable.load(str(tmp_path / 'old.json'))
    bad = dict(table.layers['head.fc'], ms=[[1.0, 2.0]])
    with pytest.raises(LatencyTableError, match='grid'):
        LatencyTable(table.meta, {'head.fc': bad})


def test_the_grid_of_a_side():
    assert width_grid(16, True, 4) == [4, 8, 12, 16]
    assert width_grid(10, True, 8) == [1, 2, 4, 5, 6, 8, 9, 10]
    assert width_grid(10, False, 8) == [10]
    assert width_grid(32, True, 4, groups=8) == [8, 16, 24, 32]
