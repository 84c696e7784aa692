"""DeiT end to end through tools/: a tiny search on the digits, its export, a short
retrain of the exported model and its test."""
import re

import pytest

from dms_search_runs import DIGITS_256, search_retrain_test, short_schedule

SEARCH = 'configs/dms/deit/dms_deit-tiny_search_digits.py'
RETRAIN = 'configs/dms/deit/dms_deit-tiny_retrain_digits.py'


@pytest.fixture(scope='module')
def pipeline(tmp_path_factory, repo_root, python_exe):
    # 8 iterations an epoch, 3 epochs: decay, then refine
    return search_retrain_test(python_exe, repo_root, tmp_path_factory.mktemp('deit'),
                               (SEARCH, RETRAIN), short_schedule(3, 8, 4), DIGITS_256)


def test_the_search_finds_heads_dims_mlp_embedding_and_depth(pipeline):
    search, subnet, _, _ = pipeline
    assert '6 searchable attentions' in search and '7 searchable channel units' in search
    assert [s['name'] for s in subnet['stages']] == ['backbone.layers']
    assert len(subnet['attention']) == 6
    for entry in subnet['attention']:
        assert 1 <= len(entry['kept_heads']) <= entry['num_heads'] == 4
        assert 1 <= len(entry['kept_qk_dims']) <= entry['head_dims'] == 16


def test_the_export_is_counted_against_the_target(pipeline):
    _, subnet, _, _ = pipeline
    res = subnet['resources']
    # mmengine's count of the static model is DMS's own count of the hard structure
    assert res['static_flops'] == pytest.approx(res['soft_flops'], rel=1e-6)
    assert res['static_params'] == pytest.approx(res['soft_params'], rel=1e-6)
    assert res['static_flops'] < res['counted_supernet_flops']  # pruned, in 24 iterations
    assert res['target_ratio'] == 0.4


def test_the_exported_model_retrains_and_tests(pipeline):
    _, _, retrain, test = pipeline
    assert 'DMSSubModel: loaded the searched weights' in retrain
    assert re.search(r'Epoch\(test\) \[\d+/\d+\]\s+accuracy/top1: [\d.]+', test)
