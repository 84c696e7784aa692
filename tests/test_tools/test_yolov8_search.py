"""mmyolo's YOLOv8 through the tools, as a user runs them: make the shapes set, search
(with the export at the end), retrain the exported structure, test it for a bbox mAP."""
import re

import pytest

from dms_search_runs import make_shapes, search_retrain_test, shapes_options

SEARCH = 'configs/dms/yolov8/dms_yolov8-n_search_shapes.py'
RETRAIN = 'configs/dms/yolov8/dms_yolov8-n_retrain_shapes.py'


def _data(root):
    # after 3 epochs on 32 images every score may be below the test threshold: no mAP
    return shapes_options(root) + ['model.architecture.test_cfg.score_thr=0.0']


@pytest.fixture(scope='module')
def pipeline(tmp_path_factory, repo_root, python_exe):
    shapes = make_shapes(python_exe, repo_root, tmp_path_factory.mktemp('shapes_coco'), 32, 16)
    root = tmp_path_factory.mktemp('yolov8')
    # 32 images in batches of 16: 2 iterations an epoch; the last of the 3 epochs without
    # Mosaic (PipelineSwitchHook), the warm-up over the first 2 iterations
    search, subnet, retrain, test = search_retrain_test(
        python_exe, repo_root, root, (SEARCH, RETRAIN),
        ['train_cfg.max_epochs=3', 'train_cfg.val_interval=3',
         'train_cfg.dynamic_intervals=None', 'default_hooks.logger.interval=1',
         'default_hooks.param_scheduler.max_epochs=3',
         'default_hooks.param_scheduler.warmup_mim_iter=2',
         'custom_hooks.0.switch_epoch=2'],
        _data(shapes),
        retrain_options=('train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                         'train_cfg.dynamic_intervals=None', 'custom_hooks.1.switch_epoch=1'))
    return root, search, subnet, retrain, test


def test_search_runs_mmyolo_recipe_with_the_structure_group(pipeline):
    _, out, _, _, _ = pipeline
    # mmyolo's grouping (weights, norm weights, biases), then the structure's group
    assert re.search(r'Optimizer groups: \d+ \.bias, \d+ conv\.weight, \d+ other', out)
    assert 'Switch pipeline now!' in out
    assert 'DMSMutator summary' in out and 'C2fFamily' in out
    last = re.search(r'Epoch\(train\)\s+\[3\]\[2/2\].*', out).group(0)
    assert 'loss_dfl: ' in last and 'flops_ratio: ' in last and 'loss_resource: ' in last
    assert re.search(r'coco/bbox_mAP: [\d.]+', out)


def test_export_hook_writes_the_searched_yolov8(pipeline):
    root, _, subnet, _, _ = pipeline
    assert (root / 'search' / 'dms_export' / 'pruned.pth').is_file()
    assert subnet['model']['type'] == 'YOLODetector' and subnet['demo_input'] == [1, 3, 128, 128]
    parts = {u['name'].split('.')[0] for u in subnet['units'] if u['searched']}
    assert parts == {'backbone', 'neck', 'bbox_head'}
    assert [s['name'] for s in subnet['stages']] == \
        [f'backbone.stage{i}.1.blocks' for i in (1, 2, 3, 4)]
    res = subnet['resources']
    # mmengine's count of the exported model is DMS's soft count
    assert res['static_flops'] == pytest.approx(res['soft_flops'], rel=1e-6)
    assert res['static_params'] == pytest.approx(res['soft_params'], rel=1e-6)
    assert res['static_flops'] < res['counted_supernet_flops']


def test_retrain_the_exported_structure_then_test_it(pipeline):
    root, _, _, retrain, test = pipeline
    assert 'DMSSubModel: loaded the searched weights' in retrain
    assert 'DMSConv2d' not in retrain and 'DMSAlgorithm' not in retrain  # a plain YOLOv8
    assert (root / 'retrain' / 'epoch_1.pth').is_file()
    maps = re.findall(r'coco/bbox_mAP: ([\d.]+)', test)
    assert maps and 0.0 <= float(maps[-1]) <= 1.0
