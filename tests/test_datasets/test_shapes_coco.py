"""The generated shapes set: real COCO files, read by mmdet's CocoDataset, scored by
mmdet's CocoMetric through pycocotools."""
import json

import numpy as np
import pytest
import torch
from mmdet.registry import DATASETS, METRICS
from mmdet.structures import DetDataSample
from mmengine.registry import DefaultScope

from dms_mm.datasets import SHAPES_CLASSES, generate_shapes_coco, shapes_ann_file

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]


@pytest.fixture(scope='module')
def shapes_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('shapes_coco')
    generate_shapes_coco(str(root), num_train=12, num_val=8, image_size=64, seed=3)
    return root


def _coco(root, split):
    return json.loads((root / shapes_ann_file(split)).read_text())


def _dataset(root, split):
    with DefaultScope.overwrite_default_scope('mmdet'):
        return DATASETS.build(dict(
            type='CocoDataset', data_root=str(root), ann_file=shapes_ann_file(split),
            data_prefix=dict(img=f'{split}/'), metainfo=dict(classes=SHAPES_CLASSES),
            test_mode=split == 'val', pipeline=PIPELINE))


def test_the_files_are_coco_instance_annotations(shapes_root):
    for split, count in (('train', 12), ('val', 8)):
        coco = _coco(shapes_root, split)
        assert [c['name'] for c in coco['categories']] == list(SHAPES_CLASSES)
        assert len(coco['images']) == count
        assert len({image['id'] for image in coco['images']}) == count
        images = {image['id']: image for image in coco['images']}
        per_image = {image_id: 0 for image_id in images}
        for ann in coco['annotations']:
            x, y, w, h = ann['bbox']
            image = images[ann['image_id']]
            assert 0 <= x and 0 <= y and x + w <= image['width'] and y + h <= image['height']
            assert w > 0 and h > 0 and 0 < ann['area'] <= w * h
            assert ann['iscrowd'] == 0 and ann['category_id'] in (1, 2, 3)
            assert len(ann['segmentation'][0]) >= 6
            per_image[ann['image_id']] += 1
        assert all(1 <= n <= 4 for n in per_image.values())
        assert (shapes_root / split / images[1]['file_name']).is_file()


def test_generation_is_deterministic_and_seeded(shapes_root, tmp_path):
    again = tmp_path / 'again'
    generate_shapes_coco(str(again), num_train=12, num_val=8, image_size=64, seed=3)
    for split in ('train', 'val'):
        assert _coco(again, split) == _coco(shapes_root, split)
        assert (again / split / '000005.png').read_bytes() == \
            (shapes_root / split / '000005.png').read_bytes()
    other = tmp_path / 'other'
    generate_shapes_coco(str(other), num_train=12, num_val=8, image_size=64, seed=4)
    assert _coco(other, 'val')['annotations'] != _coco(shapes_root, 'val')['annotations']


def test_mmdet_coco_dataset_reads_images_and_boxes(shapes_root):
    dataset = _dataset(shapes_root, 'train')
    assert len(dataset) == 12 and dataset.metainfo['classes'] == SHAPES_CLASSES
    coco = _coco(shapes_root, 'train')
    sample = dataset[0]
    image_id = sample['data_samples'].img_id
    assert tuple(sample['inputs'].shape) == (3, 64, 64)
    expected = sorted(
        ([x, y, x + w, y + h], a['category_id'] - 1)
        for a in coco['annotations'] if a['image_id'] == image_id
        for x, y, w, h in [a['bbox']])
    gt = sample['data_samples'].gt_instances
    got = sorted(zip(gt.bboxes.tensor.tolist(), gt.labels.tolist()))
    assert [label for _, label in got] == [label for _, label in expected]
    np.testing.assert_allclose([b for b, _ in got], [b for b, _ in expected])


def _predictions(dataset, shift=0.0):
    """Ground-truth boxes of every val image as predictions (score 1), each
    moved right by ``shift`` times its width."""
    results = []
    for index in range(len(dataset)):
        sample = dataset[index]['data_samples']
        boxes = sample.gt_instances.bboxes.tensor.clone()
        boxes[:, [0, 2]] += shift * (boxes[:, 2:3] - boxes[:, 0:1])
        pred = DetDataSample(metainfo=sample.metainfo)
        pred.pred_instances = sample.gt_instances.new(
            bboxes=boxes, scores=torch.ones(len(boxes)), labels=sample.gt_instances.labels)
        results.append(pred.to_dict())
    return results


@pytest.mark.parametrize('shift, expected', [(0.0, 1.0), (0.6, 0.0)])
def test_mmdet_coco_metric_scores_predictions(shapes_root, shift, expected):
    dataset = _dataset(shapes_root, 'val')
    with DefaultScope.overwrite_default_scope('mmdet'):
        metric = METRICS.build(dict(type='CocoMetric', metric='bbox',
                                    ann_file=str(shapes_root / shapes_ann_file('val'))))
    metric.dataset_meta = dataset.metainfo
    metric.process({}, _predictions(dataset, shift))
    results = metric.evaluate(len(dataset))
    assert results['coco/bbox_mAP'] == pytest.approx(expected)


@pytest.mark.parametrize('kwargs, culprit', [
    (dict(num_train=0), 'num_train'),
    (dict(image_size=16), 'image_size'),
    (dict(size_range=(0.5, 0.2)), 'size_range'),
])
def test_bad_arguments_name_the_argument(tmp_path, kwargs, culprit):
    with pytest.raises(ValueError, match=culprit):
        generate_shapes_coco(str(tmp_path), **kwargs)
    assert not any(tmp_path.iterdir())


def test_the_configs_dataset_generates_the_set_on_first_use_once(tmp_path):
    """A fresh clone runs the shapes configs with no generating step first."""
    import threading

    from dms_mm.datasets.shapes_coco_dataset import ShapesCocoDataset, ensure_shapes_coco

    root = tmp_path / 'shapes'
    made = []
    threads = [threading.Thread(target=lambda: made.append(ensure_shapes_coco(str(root))))
               for _ in range(2)]  # two ranks at once: one generates, the other waits
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(made) == [False, True]
    stamp = (root / shapes_ann_file('val')).stat().st_mtime_ns
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = DATASETS.build(dict(
            type='ShapesCocoDataset', data_root=str(root), ann_file=shapes_ann_file('val'),
            data_prefix=dict(img='val/'), test_mode=True, pipeline=PIPELINE))
    assert isinstance(dataset, ShapesCocoDataset) and len(dataset) == 128
    assert dataset.metainfo['classes'] == SHAPES_CLASSES
    assert (root / shapes_ann_file('val')).stat().st_mtime_ns == stamp  # never replaced
    with pytest.raises(ValueError, match='set data_root'):
        ShapesCocoDataset(ann_file=shapes_ann_file('val'))
