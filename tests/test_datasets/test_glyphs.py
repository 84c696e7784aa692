"""The generated glyphs set: deterministic, balanced, disjoint splits, cached, and read by
the shipped config's pipeline."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmpretrain.registry import DATASETS

from dms_mm.datasets import GLYPH_CLASSES, generate_glyphs, load_glyphs


def test_the_same_seed_gives_the_same_images_and_balanced_labels():
    images, labels = generate_glyphs(86, seed=5)
    again, again_labels = generate_glyphs(86, seed=5)
    other, _ = generate_glyphs(86, seed=6)
    assert images.shape == (86, 32, 32, 3) and images.dtype == np.uint8
    assert np.array_equal(images, again) and np.array_equal(labels, again_labels)
    assert not np.array_equal(images, other)
    # two of each of the 43 classes
    assert np.bincount(labels, minlength=len(GLYPH_CLASSES)).tolist() == [2] * 43
    # real pictures: colour, contrast, no constant image
    assert images.reshape(86, -1).std(axis=1).min() > 5


def test_splits_are_disjoint_streams_and_cached(tmp_path):
    train, _ = load_glyphs('train', 43, cache_dir=str(tmp_path))
    test, _ = load_glyphs('test', 43, cache_dir=str(tmp_path))
    assert not any((train[i] == test).all(axis=(1, 2, 3)).any() for i in range(43))
    cached = sorted(p.name for p in tmp_path.iterdir())
    assert len(cached) == 2 and all(p.endswith('.npz') for p in cached)
    again, _ = load_glyphs('train', 43, cache_dir=str(tmp_path))
    assert np.array_equal(train, again)


def test_dataset_from_shipped_config(repo_root, tmp_path):
    cfg = Config.fromfile(f'{repo_root}/configs/_base_/datasets/glyphs_bs64.py')
    dataset_cfg = cfg.glyphs_train_dataloader.dataset
    dataset_cfg.update(num_images=50, cache_dir=str(tmp_path))
    dataset = DATASETS.build(dataset_cfg)
    assert len(dataset) == 50 and dataset.metainfo['classes'] == GLYPH_CLASSES
    packed = dataset[0]
    assert tuple(packed['inputs'].shape) == (3, 32, 32)
    assert packed['data_samples'].gt_label.item() == dataset.get_data_info(0)['gt_label']
    assert cfg.glyphs_data_preprocessor.num_classes == len(GLYPH_CLASSES) == 43


def test_workers_read_the_samples_that_the_dataset_holds(repo_root, tmp_path):
    # the samples are not serialized (views of one array): forked workers still read them
    cfg = Config.fromfile(f'{repo_root}/configs/_base_/datasets/glyphs_bs64.py')
    dataset_cfg = cfg.glyphs_train_dataloader.dataset
    dataset_cfg.update(num_images=20, cache_dir=str(tmp_path), pipeline=[])
    dataset = DATASETS.build(dataset_cfg)
    assert not dataset.serialize_data
    loader = torch.utils.data.DataLoader(dataset, batch_size=5, num_workers=2,
                                         collate_fn=lambda batch: batch)
    read = [sample for batch in loader for sample in batch]
    images, labels = load_glyphs('train', 20, cache_dir=str(tmp_path))
    assert np.array_equal(np.stack([s['img'] for s in read]), images)
    assert [s['gt_label'] for s in read] == labels.tolist()


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="split must be one of"):
        DATASETS.build(dict(type='GlyphsDataset', split='val'))
    with pytest.raises(ValueError, match='num_images must be positive'):
        load_glyphs('train', 0, cache_dir=None)
