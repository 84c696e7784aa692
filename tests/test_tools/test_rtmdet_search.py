"""mmdet's RTMDet-tiny through the tools, as a user runs them: make the shapes set, search
(with the export at the end), retrain the exported structure, test it for a bbox mAP."""
import re

import pytest
import torch

from dms_search_runs import make_shapes, search_retrain_test, shapes_options

SEARCH = 'configs/dms/rtmdet/dms_rtmdet-tiny_search_shapes.py'
RETRAIN = 'configs/dms/rtmdet/dms_rtmdet-tiny_retrain_shapes.py'


def _data(root):
    """The generated set, in batches of 4."""
    return shapes_options(root) + ['train_dataloader.batch_size=4']


@pytest.fixture(scope='module')
def shapes(tmp_path_factory, repo_root, python_exe):
    return make_shapes(python_exe, repo_root, tmp_path_factory.mktemp('shapes_coco'), 8, 8)


@pytest.fixture(scope='module')
def pipeline(shapes, tmp_path_factory, repo_root, python_exe):
    root = tmp_path_factory.mktemp('rtmdet')
    # 8 images in batches of 4: 2 iterations an epoch; the second of the 2 epochs on
    # the stage-2 pipeline (no CachedMosaic/CachedMixUp), as PipelineSwitchHook switches.
    # The retrain runs mmdet's EMAHook and PipelineSwitchHook (from the first epoch on).
    search, subnet, retrain, test = search_retrain_test(
        python_exe, repo_root, root, (SEARCH, RETRAIN),
        ['train_cfg.max_epochs=2', 'train_cfg.val_interval=2', 'custom_hooks.0.switch_epoch=1',
         'default_hooks.logger.interval=1'], _data(shapes),
        retrain_options=['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                         'custom_hooks.1.switch_epoch=0'])
    return root, search, subnet, retrain, test


def test_search_finds_the_rtmdet_space_and_runs_its_hooks(pipeline):
    _, out, _, _, _ = pipeline
    assert 'Switch pipeline now!' in out
    assert ('DMSMutator: 55 searchable channel units (0 left out), 3 searchable stages'
            in out)
    assert 'DMSMutator: bbox_head.cls_convs.0.0.conv is shared' in out
    last = re.search(r'Epoch\(train\)\s+\[2\]\[2/2\].*', out).group(0)
    assert 'loss_bbox: ' in last and 'flops_ratio: ' in last and 'loss_resource: ' in last
    assert re.search(r'coco/bbox_mAP: [\d.]+', out)


def test_export_hook_writes_the_searched_rtmdet(pipeline):
    root, _, subnet, _, _ = pipeline
    assert subnet['model']['type'] == 'RTMDet' and subnet['demo_input'] == [1, 3, 128, 128]
    parts = {u['name'].split('.')[0] for u in subnet['units'] if u['searched']}
    assert parts == {'backbone', 'neck', 'bbox_head'}
    assert [s['name'] for s in subnet['stages']] == \
        [f'backbone.stage{i}.1.blocks' for i in (1, 2, 3)]
    res = subnet['resources']
    # mmengine's count of the exported model is DMS's soft count (plus the upsampling
    # and the channel attentions' pooling), the shared head convs counted at every level
    assert res['static_flops'] == pytest.approx(res['soft_flops'], rel=1e-3)
    assert res['static_params'] == pytest.approx(res['soft_params'], rel=1e-6)
    assert res['static_flops'] < res['counted_supernet_flops']
    pruned = root / 'search' / 'dms_export' / 'pruned.pth'
    weights = torch.load(pruned, map_location='cpu')['state_dict']
    assert torch.equal(weights['bbox_head.cls_convs.2.0.conv.weight'],
                       weights['bbox_head.cls_convs.0.0.conv.weight'])


def test_retrain_the_exported_structure_then_test_it(pipeline):
    root, _, _, retrain, test = pipeline
    assert 'DMSSubModel: loaded the searched weights' in retrain
    assert 'Switch pipeline now!' in retrain
    assert 'DMSConv2d' not in retrain and 'DMSAlgorithm' not in retrain  # a plain RTMDet
    # the head convs are still one module per position after AdamW steps
    state = torch.load(root / 'retrain' / 'epoch_1.pth', map_location='cpu',
                       weights_only=False)['state_dict']
    assert torch.equal(state['bbox_head.reg_convs.1.1.conv.weight'],
                       state['bbox_head.reg_convs.0.1.conv.weight'])
    maps = re.findall(r'coco/bbox_mAP: ([\d.]+)', test)
    assert maps and 0.0 <= float(maps[-1]) <= 1.0
    assert 'Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all' in test
