"""A small COCO-format detection set of simple shapes, generated on demand.

Each image is a noisy background with one to ``max_objects`` filled shapes
(rectangles, circles and triangles, in random sizes, rotations and colours)
that do not overlap. The annotations are real COCO instance annotations, so
mmdet's own ``CocoDataset`` reads them (with ``metainfo=dict(classes=
SHAPES_CLASSES)``) and mmdet's ``CocoMetric`` evaluates against them through
pycocotools. Nothing is downloaded; the same arguments give the same files.

Layout of ``out_dir`` (mmdet's COCO layout, with split names ``train``/``val``)::

    annotations/instances_train.json
    annotations/instances_val.json
    train/000001.png ...
    val/000001.png ...

Example::

    from dms_mm.datasets import generate_shapes_coco
    generate_shapes_coco('data/shapes_coco')   # or: python tools/make_shapes_coco.py
"""
import json
import math
import os
import os.path as osp
from typing import Dict, List, Tuple

import numpy as np
from PIL import Image, ImageDraw

SHAPES_CLASSES = ('rectangle', 'circle', 'triangle')
SHAPES_SPLITS = ('train', 'val')
_CIRCLE_VERTICES = 32


def shapes_ann_file(split: str) -> str:
    """The annotation file of a split, relative to the dataset root."""
    if split not in SHAPES_SPLITS:
        raise ValueError(f'shapes_coco: split must be one of {SHAPES_SPLITS}, got {split!r}')
    return f'annotations/instances_{split}.json'


def _polygon(kind: str, center: Tuple[float, float], size: float, angle: float,
             aspect: float) -> List[Tuple[float, float]]:
    """Vertices of a shape whose largest extent is about ``size`` pixels."""
    cx, cy = center
    if kind == 'rectangle':
        half_w, half_h = size / 2, size * aspect / 2
        corners = [(-half_w, -half_h), (half_w, -half_h), (half_w, half_h), (-half_w, half_h)]
    elif kind == 'circle':
        radius = size / 2
        corners = [(radius * math.cos(2 * math.pi * k / _CIRCLE_VERTICES),
                    radius * math.sin(2 * math.pi * k / _CIRCLE_VERTICES))
                   for k in range(_CIRCLE_VERTICES)]
    else:  # triangle
        radius = size / 2
        corners = [(radius * math.cos(2 * math.pi * k / 3), radius * math.sin(2 * math.pi * k / 3))
                   for k in range(3)]
    cos, sin = math.cos(angle), math.sin(angle)
    return [(cx + x * cos - y * sin, cy + x * sin + y * cos) for x, y in corners]


def _overlaps(box: List[int], boxes: List[List[int]], gap: int = 2) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 < b[2] + gap and b[0] < x1 + gap and y0 < b[3] + gap and b[1] < y1 + gap
               for b in boxes)


def _colour_far_from(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A fill colour that stands out from the background (mean channel
    distance of at least 60 grey levels)."""
    while True:
        colour = rng.integers(0, 256, size=3)
        if np.abs(colour - background).mean() >= 60:
            return colour


def _render_image(rng: np.random.Generator, image_size: int, max_objects: int,
                  size_range: Tuple[float, float]):
    """One image (uint8 HxWx3) and its objects as (class index, mask, polygon)."""
    background = rng.integers(30, 226, size=3)
    # a smooth tilt of the background level, then per-pixel noise (added at the end)
    ramp = np.linspace(-1.0, 1.0, image_size)
    tilt_x, tilt_y = rng.uniform(-25, 25, size=2)
    level = tilt_x * ramp[None, :] + tilt_y * ramp[:, None]
    image = background[None, None, :].astype(np.float64) + level[..., None]
    objects, boxes = [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        kind_index = int(rng.integers(len(SHAPES_CLASSES)))
        kind = SHAPES_CLASSES[kind_index]
        for _attempt in range(20):
            size = rng.uniform(*size_range) * image_size
            margin = size / 2 + 1
            center = (rng.uniform(margin, image_size - margin),
                      rng.uniform(margin, image_size - margin))
            polygon = _polygon(kind, center, size, rng.uniform(0, 2 * math.pi),
                               rng.uniform(0.5, 1.0))
            mask_image = Image.new('L', (image_size, image_size), 0)
            ImageDraw.Draw(mask_image).polygon(polygon, fill=1)
            mask = np.asarray(mask_image, dtype=bool)
            ys, xs = np.nonzero(mask)
            if len(xs) == 0:
                continue
            box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
            if _overlaps(box, boxes):
                continue
            boxes.append(box)
            colour = _colour_far_from(rng, background)
            image[mask] = colour
            objects.append((kind_index, mask, box, polygon))
            break
    noise = rng.normal(0.0, rng.uniform(4.0, 16.0), size=image.shape)
    image = np.clip(np.round(image + noise), 0, 255).astype(np.uint8)
    return image, objects


def generate_shapes_coco(out_dir: str,
                         num_train: int = 512,
                         num_val: int = 128,
                         image_size: int = 128,
                         seed: int = 0,
                         max_objects: int = 4,
                         size_range: Tuple[float, float] = (0.15, 0.45)) -> Dict[str, str]:
    """Write the shapes detection set in COCO format.

    Args:
        out_dir (str): The dataset root (created if missing). The files this
            call writes replace those of an earlier call; nothing else in the
            folder is touched.
        num_train (int): Images of the ``train`` split. Defaults to 512.
        num_val (int): Images of the ``val`` split. Defaults to 128.
        image_size (int): Side of the square images, in pixels. Defaults to
            128.
        seed (int): Seed of the generator; each split draws from its own
            stream, so changing ``num_train`` leaves ``val`` unchanged.
            Defaults to 0.
        max_objects (int): Most shapes in one image (at least one is always
            placed). Defaults to 4.
        size_range (tuple[float, float]): Smallest and largest extent of a
            shape, as fractions of ``image_size``. Defaults to (0.15, 0.45).

    Returns:
        dict: ``{split: path of its annotation file}``.
    """
    for name, value, low in (('num_train', num_train, 1), ('num_val', num_val, 1),
                             ('image_size', image_size, 32), ('max_objects', max_objects, 1)):
        if int(value) != value or value < low:
            raise ValueError(f'generate_shapes_coco: {name} must be an integer >= {low}, '
                             f'got {value!r}')
    low, high = size_range
    if not 0.0 < low <= high <= 0.9:
        raise ValueError('generate_shapes_coco: size_range must satisfy 0 < low <= high <= 0.9, '
                         f'got {size_range!r}')
    categories = [dict(id=i + 1, name=name, supercategory='shape')
                  for i, name in enumerate(SHAPES_CLASSES)]
    written = {}
    for split_index, (split, count) in enumerate(zip(SHAPES_SPLITS, (num_train, num_val))):
        rng = np.random.default_rng([seed, split_index])
        image_dir = osp.join(out_dir, split)
        os.makedirs(image_dir, exist_ok=True)
        images, annotations = [], []
        for image_id in range(1, count + 1):
            image, objects = _render_image(rng, image_size, max_objects, (low, high))
            file_name = f'{image_id:06d}.png'
            Image.fromarray(image).save(osp.join(image_dir, file_name), format='PNG')
            images.append(dict(id=image_id, file_name=file_name, width=image_size,
                               height=image_size))
            for kind_index, mask, (x0, y0, x1, y1), polygon in objects:
                segmentation = [round(min(max(v, 0.0), float(image_size)), 2)
                                for point in polygon for v in point]
                annotations.append(dict(
                    id=len(annotations) + 1, image_id=image_id, category_id=kind_index + 1,
                    bbox=[float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                    area=float(mask.sum()), iscrowd=0, segmentation=[segmentation]))
        coco = dict(
            info=dict(description='dms_mm shapes: generated by '
                      'dms_mm.datasets.generate_shapes_coco',
                      version='1.0',
                      generator=dict(num_images=count, image_size=image_size, seed=seed,
                                     max_objects=max_objects, size_range=[low, high])),
            licenses=[], images=images, annotations=annotations, categories=categories)
        ann_file = osp.join(out_dir, shapes_ann_file(split))
        os.makedirs(osp.dirname(ann_file), exist_ok=True)
        with open(ann_file + '.tmp', 'w', encoding='utf-8') as f:
            json.dump(coco, f)
        os.replace(ann_file + '.tmp', ann_file)
        written[split] = ann_file
    return written

