"""Pieces of the demo (the whole job runs in `make demo`, about 13 minutes)."""
import importlib.util
import json
import os.path as osp
from types import SimpleNamespace

import pytest


@pytest.fixture(scope='module')
def demo(repo_root):
    spec = importlib.util.spec_from_file_location('dms_demo',
                                                  osp.join(repo_root, 'tools', 'dms_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_uniform_baseline_of_the_digits_search(demo, tmp_path):
    # the structure itself is tested in tests/test_benchmarks/test_compare.py
    subnet = demo.uniform_subnet(0.3, str(tmp_path))
    assert json.loads((tmp_path / 'subnet.json').read_text())['format'] == 'dms_mm.subnet/1'
    res = subnet['resources']
    assert res['static_flops'] / res['counted_supernet_flops'] == pytest.approx(0.3, abs=0.02)
    assert res['method']['name'] == 'uniform'


def test_report_says_plainly_when_dms_does_not_win(demo, tmp_path):
    rows = dict(supernet=dict(top1=[98.0, 98.5], seconds=[100, 100]),
                uniform=dict(top1=[97.0, 97.5], seconds=[80, 80]),
                dms=dict(top1=[96.8, 97.6], seconds=[150, 150]))
    res = dict(static_flops=2.6e6, static_params=1.0e6, counted_supernet_flops=8.8e6,
               counted_supernet_params=4.0e6)
    args = SimpleNamespace(target=0.3, seeds=[0, 1], epochs=12)
    demo.write_report(str(tmp_path), args, rows, res, [res, res])
    report = (tmp_path / 'report.md').read_text()
    assert '| Uniform scaling (width and depth) | 2.600 | 0.295 | 1.000 | 97.25 ± 0.35 | 80 |' \
        in report
    assert '**DMS does not clearly beat uniform scaling here**' in report
    rows['dms']['top1'] = [99.0, 99.2]
    demo.write_report(str(tmp_path), args, rows, res, [res, res])
    assert '**DMS beats uniform scaling**' in (tmp_path / 'report.md').read_text()
