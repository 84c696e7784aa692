"""Glyphs: a generated character-recognition set that needs model capacity.

Each image is one character drawn from one of the fonts that matplotlib ships
(DejaVu, STIX and Computer Modern, in their regular, bold, italic and
monospace faces), under a random affine transform (scale, rotation, shear,
translation), in a random colour over a random textured or graded
background, with clutter: line strokes, a smaller cut-off distractor
character near a border, blur and pixel noise. The label is the character.

Why this task: scikit-learn's digits (1,797 images) are limited by their data,
so every structure ties on them. Here every image is new, the appearance
varies far more within a class than between the closest classes, and there is
as much data as the CPU can train on, so a larger model keeps gaining, and a
pruned model is judged by where it spends its width and depth.

Everything is generated from ``seed`` with numpy, OpenCV and matplotlib's
FreeType bindings: nothing is downloaded, and the same arguments give the same
images on every machine with the same packages. The train and test splits
draw from disjoint random streams. Generated arrays are cached as ``.npz``
under ``cache_dir`` (keyed by every argument), so only the first process pays
for the generation.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

# Upper-case letters without I and O (they are 1 and 0 in several fonts), the digits
# 2-9 (0 and 1 are O and I/l), and lower-case letters whose shape differs from their
# capital. No two classes are the same shape under the small rotations used.
GLYPH_CLASSES = tuple('ABCDEFGHJKLMNPQRSTUVWXYZ' '23456789' 'abdefghnqrt')
# matplotlib's fonts whose letters and digits are real glyphs (the STIX size and
# symbol fonts and cmsy/cmex are left out: they map letters to symbols or nothing)
GLYPH_FONTS = (
    'DejaVuSans.ttf', 'DejaVuSans-Bold.ttf', 'DejaVuSans-Oblique.ttf',
    'DejaVuSans-BoldOblique.ttf', 'DejaVuSansMono.ttf', 'DejaVuSansMono-Bold.ttf',
    'DejaVuSansMono-Oblique.ttf', 'DejaVuSansMono-BoldOblique.ttf', 'DejaVuSerif.ttf',
    'DejaVuSerif-Bold.ttf', 'DejaVuSerif-Italic.ttf', 'DejaVuSerif-BoldItalic.ttf',
    'STIXGeneral.ttf', 'STIXGeneralBol.ttf', 'STIXGeneralItalic.ttf',
    'STIXGeneralBolIta.ttf', 'cmr10.ttf', 'cmb10.ttf', 'cmss10.ttf', 'cmtt10.ttf', 'cmti10.ttf')
GLYPH_SPLITS = ('train', 'test')
_RENDER_PX = 64  # glyphs are rasterised at this height, then warped and downsampled
_FORMAT = 2  # bump when the generator changes, so that old caches are not reused


def _font_dir() -> str:
    import matplotlib
    return osp.join(osp.dirname(matplotlib.__file__), 'mpl-data', 'fonts', 'ttf')


def render_glyphs(classes: Sequence[str] = GLYPH_CLASSES,
                  fonts: Sequence[str] = GLYPH_FONTS) -> List[List[np.ndarray]]:
    """Rasterise every class in every font.

    Returns:
        list: ``glyphs[class][font]``, a float32 coverage array in [0, 1]
        cropped to the glyph's ink.

    Raises:
        FileNotFoundError: If a font is not among matplotlib's.
        ValueError: If a font has no glyph for a class.
    """
    from matplotlib.ft2font import FT2Font

    glyphs = [[] for _ in classes]
    for name in fonts:
        path = osp.join(_font_dir(), name)
        if not osp.isfile(path):
            raise FileNotFoundError(f'glyphs: font {name!r} is not in matplotlib ({path})')
        font = FT2Font(path)
        for i, char in enumerate(classes):
            if font.get_char_index(ord(char)) == 0:
                raise ValueError(f'glyphs: font {name!r} has no glyph for {char!r}')
            font.set_size(_RENDER_PX * 0.75, 72)  # points at 72 dpi: about _RENDER_PX px
            font.set_text(char, 0.0)
            font.draw_glyphs_to_bitmap(antialiased=True)
            image = np.asarray(font.get_image(), dtype=np.float32) / 255.0
            rows, cols = np.nonzero(image > 0.05)
            if len(rows) == 0:
                raise ValueError(f'glyphs: font {name!r} draws nothing for {char!r}')
            glyphs[i].append(np.ascontiguousarray(
                image[rows.min():rows.max() + 1, cols.min():cols.max() + 1]))
    return glyphs


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A colour gradient or a smooth colour texture, float32 [size, size, 3] in [0, 255]."""
    import cv2

    if rng.random() < 0.5:
        a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
        angle = rng.uniform(0, 2 * np.pi)
        y, x = np.mgrid[0:size, 0:size] / (size - 1)
        t = (np.cos(angle) * x + np.sin(angle) * y)
        t = (t - t.min()) / max(t.max() - t.min(), 1e-6)
        return (a[None, None] * (1 - t[..., None]) + b[None, None] * t[..., None]).astype(
            np.float32)
    # a smooth colour texture around one base colour (half of the range at most)
    cells = int(rng.integers(2, 7))
    base = rng.uniform(64, 192, 3).astype(np.float32)
    noise = rng.uniform(-64, 64, (cells, cells, 3)).astype(np.float32)
    texture = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    return (base + texture).clip(0, 255)


def _warp(glyph: np.ndarray, rng: np.random.Generator, size: int, height: float,
          center: Tuple[float, float], max_rotation: float, max_shear: float) -> np.ndarray:
    """The glyph's coverage warped into a ``size`` x ``size`` canvas."""
    import cv2

    h, w = glyph.shape
    scale = height / h
    angle = np.deg2rad(rng.uniform(-max_rotation, max_rotation))
    shear = rng.uniform(-max_shear, max_shear)
    aspect = rng.uniform(0.8, 1.2)
    cos, sin = np.cos(angle), np.sin(angle)
    linear = np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, shear], [0.0, 1.0]]) \
        @ np.diag([scale * aspect, scale])
    offset = np.asarray(center) - linear @ np.array([w / 2, h / 2])
    matrix = np.hstack([linear, offset[:, None]]).astype(np.float32)
    return cv2.warpAffine(glyph, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _colour_against(rng: np.random.Generator, background: np.ndarray,
                    min_contrast: float) -> np.ndarray:
    """A random colour whose mean differs from the background's by ``min_contrast``."""
    base = background.reshape(-1, 3).mean(0)
    for _ in range(20):
        colour = rng.uniform(0, 255, 3)
        if abs(colour.mean() - base.mean()) >= min_contrast:
            return colour
    return np.where(base > 127, 0.0, 255.0) * np.ones(3)


def generate_glyphs(num_images: int, seed: int, image_size: int = 32,
                    classes: Sequence[str] = GLYPH_CLASSES,
                    fonts: Sequence[str] = GLYPH_FONTS) -> Tuple[np.ndarray, np.ndarray]:
    """Generate ``num_images`` glyph images, balanced over the classes.

    Args:
        num_images (int): How many images.
        seed (int): The random stream; the same seed gives the same images.
        image_size (int): Side of the square images. Defaults to 32.
        classes (Sequence[str]): One character per class.
        fonts (Sequence[str]): File names of matplotlib fonts.

    Returns:
        tuple: ``uint8`` images ``[num_images, image_size, image_size, 3]``
        (RGB) and ``int64`` labels ``[num_images]``.
    """
    import cv2

    glyphs = render_glyphs(classes, fonts)
    rng = np.random.default_rng(seed)
    labels = np.arange(num_images) % len(classes)
    rng.shuffle(labels)
    big = 2 * image_size  # draw at twice the size, then downsample (anti-aliasing)
    images = np.empty((num_images, image_size, image_size, 3), dtype=np.uint8)
    for n, label in enumerate(labels):
        canvas = _background(rng, big)
        for _ in range(int(rng.integers(0, 3))):  # stroke clutter
            p, q = rng.uniform(0, big, 2), rng.uniform(0, big, 2)
            cv2.line(canvas, tuple(int(v) for v in p), tuple(int(v) for v in q),
                     tuple(float(v) for v in rng.uniform(0, 255, 3)),
                     int(rng.integers(1, 4)), lineType=cv2.LINE_AA)
        if rng.random() < 0.5:  # a small distractor, cut off at a border
            other = int(rng.integers(len(classes) - 1))
            other += other >= label
            corner = rng.choice([0.0, 1.0], 2) * big
            alpha = _warp(glyphs[other][int(rng.integers(len(fonts)))], rng, big,
                          big * rng.uniform(0.3, 0.45), tuple(corner + rng.uniform(-4, 4, 2)),
                          30.0, 0.3)
            colour = _colour_against(rng, canvas, 30.0)
            canvas = canvas * (1 - alpha[..., None]) + colour * alpha[..., None]
        alpha = _warp(glyphs[label][int(rng.integers(len(fonts)))], rng, big,
                      big * rng.uniform(0.45, 0.8),
                      tuple(big / 2 + rng.uniform(-0.14, 0.14, 2) * big), 20.0, 0.3)
        colour = _colour_against(rng, canvas, 70.0)
        canvas = canvas * (1 - alpha[..., None]) + colour * alpha[..., None]
        small = cv2.resize(canvas, (image_size, image_size), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.3:
            small = cv2.GaussianBlur(small, (3, 3), rng.uniform(0.3, 0.9))
        small = small + rng.normal(0, rng.uniform(0, 12), small.shape)
        images[n] = small.clip(0, 255).round().astype(np.uint8)
    return images, labels.astype(np.int64)


def _cache_key(args: Dict) -> str:
    return hashlib.sha1(json.dumps(args, sort_keys=True).encode()).hexdigest()[:12]


def load_glyphs(split: str, num_images: int, seed: int = 0, image_size: int = 32,
                cache_dir: Optional[str] = 'data/glyphs') -> Tuple[np.ndarray, np.ndarray]:
    """The images and labels of one split, from the cache or generated.

    Args:
        split (str): ``'train'`` or ``'test'``; each has its own random stream.
        num_images (int): Images in the split.
        seed (int): Base seed of the set. Defaults to 0.
        image_size (int): Side of the images. Defaults to 32.
        cache_dir (str, optional): Where generated splits are kept as
            ``.npz``; None generates every time.
    """
    if split not in GLYPH_SPLITS:
        raise ValueError(f'glyphs: split must be one of {GLYPH_SPLITS}, got {split!r}')
    if num_images < 1:
        raise ValueError(f'glyphs: num_images must be positive, got {num_images}')
    # independent streams for the splits: a test image is never a train image
    stream = [seed, GLYPH_SPLITS.index(split), 0x61796C67]
    args = dict(format=_FORMAT, stream=stream, num_images=num_images, image_size=image_size,
                classes=''.join(GLYPH_CLASSES), fonts=list(GLYPH_FONTS))
    path = None
    if cache_dir is not None:
        path = osp.join(cache_dir, f'glyphs_{split}_{num_images}_{_cache_key(args)}.npz')
        if osp.isfile(path):
            with np.load(path) as data:
                return data['images'], data['labels']
    images, labels = generate_glyphs(num_images, int(np.random.SeedSequence(stream)
                                                       .generate_state(1)[0]), image_size)
    if path is not None:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = f'{path}.{os.getpid()}.tmp.npz'
        np.savez(tmp, images=images, labels=labels)
        os.replace(tmp, path)  # atomic: concurrent processes never read half a file
    return images, labels


@DATASETS.register_module()
class GlyphsDataset(BaseDataset):
    """The generated glyphs set (see the module docstring) as an mmpretrain
    dataset.

    Args:
        split (str): ``'train'`` or ``'test'``. Defaults to ``'train'``.
        num_images (int, optional): Images in the split. Defaults to 40,000
            for train and 8,000 for test.
        seed (int): Base seed of the set (not of the training run).
            Defaults to 0.
        image_size (int): Side of the images. Defaults to 32.
        cache_dir (str, optional): Cache of generated splits.
            Defaults to ``'data/glyphs'``.
        **kwargs: Passed to :class:`mmpretrain.datasets.BaseDataset`
            (``pipeline``, ``test_mode``, ``indices``, ...); ``serialize_data``
            defaults to False here.
    """

    METAINFO = {'classes': GLYPH_CLASSES}
    DEFAULT_SIZES = dict(train=40000, test=8000)

    def __init__(self, split: str = 'train', num_images: Optional[int] = None, seed: int = 0,
                 image_size: int = 32, cache_dir: Optional[str] = 'data/glyphs', **kwargs):
        if split not in GLYPH_SPLITS:
            raise ValueError(
                f'GlyphsDataset: split must be one of {GLYPH_SPLITS}, got {split!r}')
        self.split = split
        self.num_images = self.DEFAULT_SIZES[split] if num_images is None else int(num_images)
        self.seed, self.image_size, self.cache_dir = seed, image_size, cache_dir
        kwargs.setdefault('ann_file', '')
        kwargs.setdefault('test_mode', split == 'test')
        # mmengine's serialization pickles every sample into one buffer, for sharing between
        # dataloader workers; here the samples are views of one array, which forked workers
        # share as they are, and pickling them took 2.4 s of every process that built the
        # 20,000 training images (0.06 s without)
        kwargs.setdefault('serialize_data', False)
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        images, labels = load_glyphs(self.split, self.num_images, self.seed, self.image_size,
                                     self.cache_dir)
        return [dict(img=images[i], gt_label=int(labels[i])) for i in range(len(labels))]

    def extra_repr(self) -> List[str]:
        return [f'Split: \t{self.split}', f'Seed: \t{self.seed}',
                'Source: \tgenerated (dms_mm.datasets.glyphs)']
