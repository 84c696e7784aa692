import numpy as np
import pytest
from mmengine.config import Config
from mmpretrain.registry import DATASETS

import dms_mm  # noqa: F401


def test_splits_are_disjoint_and_complete():
    train = DATASETS.build(dict(type='DigitsDataset', split='train'))
    test = DATASETS.build(dict(type='DigitsDataset', split='test'))
    assert len(train) == 1437 and len(test) == 360
    assert train.metainfo['classes'] == tuple('0123456789')
    sample = train.get_data_info(0)
    assert sample['img'].shape == (8, 8, 3) and sample['img'].dtype == np.uint8
    assert sample['img'].max() <= 255 and 0 <= sample['gt_label'] <= 9
    labels = np.array([test.get_data_info(i)['gt_label'] for i in range(len(test))])
    assert set(labels.tolist()) == set(range(10))


def test_pipeline_from_shipped_config(repo_root):
    cfg = Config.fromfile(f'{repo_root}/configs/_base_/datasets/digits_bs32.py')
    dataset = DATASETS.build(cfg.digits_train_dataloader.dataset)
    packed = dataset[0]
    assert tuple(packed['inputs'].shape) == (3, 32, 32)
    assert packed['data_samples'].gt_label.item() == dataset.get_data_info(0)['gt_label']


def test_bad_split_names_the_argument():
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        DATASETS.build(dict(type='DigitsDataset', split='val'))
