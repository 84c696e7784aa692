"""mmpretrain's ResNet-50 end to end through tools/: a tiny search on the digits, its
export, a short retrain of the exported model and its test."""
import re

import pytest

from dms_search_runs import search_retrain_test, short_schedule

SEARCH = 'configs/dms/resnet/dms_resnet-50_search_digits.py'
RETRAIN = 'configs/dms/resnet/dms_resnet-50_retrain_digits.py'
# 64 training images in batches of 16 (4 iterations an epoch), 2 epochs: decay, refine
DATA = ['train_dataloader.dataset.indices=64', 'train_dataloader.batch_size=16',
        'val_dataloader.dataset.indices=32', 'test_dataloader.dataset.indices=32']


@pytest.fixture(scope='module')
def pipeline(tmp_path_factory, repo_root, python_exe):
    return search_retrain_test(python_exe, repo_root, tmp_path_factory.mktemp('resnet50'),
                               (SEARCH, RETRAIN), short_schedule(2, 4, 1), DATA)


def test_the_search_finds_widths_and_the_bottlenecks_with_an_identity(pipeline):
    search, subnet, _, _ = pipeline
    assert ('DMSMutator: 37 searchable channel units (0 left out), 4 searchable stages'
            in search)
    assert '[searched] backbone.layer3: 6 blocks, removable [1, 2, 3, 4, 5]' in search
    assert subnet['model']['type'] == 'ImageClassifier'
    assert [s['name'] for s in subnet['stages']] == [f'backbone.layer{i}' for i in range(1, 5)]
    assert re.search(r'Epoch\(val\) \[2\]\[\d+/\d+\]\s+accuracy/top1: [\d.]+', search)


def test_the_export_is_counted_against_the_target(pipeline):
    _, subnet, _, _ = pipeline
    res = subnet['resources']
    # mmengine's count of the static model is DMS's own count of the hard structure
    # (plus the global average pooling, which mmengine counts)
    assert res['static_flops'] == pytest.approx(res['soft_flops'], rel=1e-4)
    assert res['static_params'] == pytest.approx(res['soft_params'], rel=1e-6)
    assert res['static_flops'] < res['counted_supernet_flops']  # pruned, in 8 iterations
    assert res['target_ratio'] == 0.5


def test_the_exported_model_retrains_and_tests(pipeline):
    _, _, retrain, test = pipeline
    assert 'DMSSubModel: loaded the searched weights' in retrain
    assert 'DMSConv2d' not in retrain and 'DMSAlgorithm' not in retrain
    accuracy = re.search(r'Epoch\(test\) \[\d+/\d+\]\s+accuracy/top1: ([\d.]+)', test)
    assert accuracy and 0.0 <= float(accuracy.group(1)) <= 100.0
