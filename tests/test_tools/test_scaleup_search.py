"""Scaling up end to end through tools/: EfficientNet-B0 grown 1.5x wide and 2x deep, a tiny
search down to B0's FLOPs on the digits, its export, a short retrain and its test."""
import re

import pytest

from dms_search_runs import DIGITS_256, search_retrain_test, short_schedule

SEARCH = 'configs/dms/efficientnet/dms_efficientnet-b0_scaleup_search_digits.py'
RETRAIN = 'configs/dms/efficientnet/dms_efficientnet-b0_scaleup_retrain_digits.py'


@pytest.fixture(scope='module')
def pipeline(tmp_path_factory, repo_root, python_exe):
    # 8 iterations an epoch, 3 epochs: decay, then refine
    return search_retrain_test(python_exe, repo_root, tmp_path_factory.mktemp('scaleup'),
                               (SEARCH, RETRAIN), short_schedule(3, 8, 4), DIGITS_256)


def test_the_search_runs_on_the_grown_supernet(pipeline):
    search, subnet, _, _ = pipeline
    assert 'DMS expansion: channel_ratio 1.5, block_ratio 2' in search
    assert '[deepened] backbone.layers.4: 6 -> 10 blocks' in search
    assert '58 searchable channel units' in search
    assert subnet['expand']['stages']['backbone.layers.5'] == [5, 8]
    blocks = {s['name']: s['num_blocks'] for s in subnet['stages']}
    assert blocks['backbone.layers.4'] == 10


def test_the_export_is_counted_against_b0s_flops(pipeline):
    _, subnet, _, _ = pipeline
    res = subnet['resources']
    assert res['static_flops'] == pytest.approx(res['soft_flops'], rel=0.01)
    assert res['counted_supernet_flops'] > 3 * 8798208  # the grown supernet
    assert res['target_ratio'] == pytest.approx(8798208 / res['supernet_flops'])
    assert res['static_flops'] < res['counted_supernet_flops']


def test_the_grown_and_pruned_model_retrains_and_tests(pipeline):
    _, _, retrain, test = pipeline
    assert 'DMS expansion: channel_ratio 1.5, block_ratio 2' in retrain
    assert 'DMSSubModel: loaded the searched weights' in retrain
    assert re.search(r'Epoch\(test\) \[\d+/\d+\]\s+accuracy/top1: [\d.]+', test)
