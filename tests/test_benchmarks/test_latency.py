"""benchmarks/latency.py: a table, exports at latency targets, predicted
against measured, in one run (timings from a few runs: the structure of the
report is checked, not the device's speed)."""
import json

from mmengine.registry import DefaultScope

from benchmarks import latency
from dms_mm.resources import LatencyTable
from dms_test_utils import growing_latency_table


def test_exports_at_latency_targets_are_timed_beside_the_supernet(tmp_path, monkeypatch):
    measure = latency.measure_table

    def growing(name, config, size, args, out):
        # timings that grow with the widths: one run a point on a busy machine need not
        measure(name, config, size, args, out)
        growing_latency_table(LatencyTable.load(out)).save(out)

    monkeypatch.setattr(latency, 'measure_table', growing)
    with DefaultScope.overwrite_default_scope('mmrazor'):
        text = latency.main(['--model', 'resnet18-w16', '--targets', '0.8', '--batch', '2',
                             '--steps', '2', '--iters', '2', '--warmup', '0', '--divisor', '4',
                             '--work-dir', str(tmp_path)])
    results = json.loads((tmp_path / 'results.json').read_text())
    row, rounded = results['rows']
    assert row['model'] == 'resnet18-w16' and row['input'] == [2, 3, 32, 32]
    assert row['structure'].startswith('random')
    # the export lands on the target as the table predicts it
    assert 0.75 <= row['predicted_ratio'] <= 0.8
    assert row['measured_ms'] > 0 and row['measured_supernet_ms'] > 0
    assert row['payoff'] == (1 - row['measured_ratio']) / (1 - 0.8)
    assert results['meta']['batch_size'] == 2
    assert (tmp_path / 'resnet18-w16' / 'export_t0.8' / 'subnet.json').is_file()
    assert '| resnet18-w16 | 2x3x32x32 | 0.8 | random (seed 0)' in text
    # the same structure with its widths rounded to multiples of 4, timed beside it
    assert rounded['structure'].endswith('rounded to multiples of 4')
    assert rounded['measured_supernet_ms'] == row['measured_supernet_ms']
    subnet = json.loads((tmp_path / 'resnet18-w16' / 'export_t0.8_d4' / 'subnet.json')
                        .read_text())
    assert all(len(unit['kept']) % 4 == 0 for unit in subnet['units'])
    # the table says which widths this CPU prefers
    assert isinstance(LatencyTable.load(str(tmp_path / 'resnet18-w16' / 'latency_table.json'))
                      .preferred_divisor, int)
    assert 'Payoff at least 0.9' in (tmp_path / 'report.md').read_text()
