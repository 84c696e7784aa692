"""The handwritten digits that ship with scikit-learn, as an mmpretrain dataset.

1797 grey 8x8 images of the digits 0-9 (``sklearn.datasets.load_digits``), read
from scikit-learn's own package data: nothing is downloaded. Every fifth image
(by index) forms the test split, 360 images; the other 1437 form the train
split. Images are returned as ``uint8`` arrays of shape ``(8, 8, 3)`` in the
``img`` key, so the usual mmpretrain pipelines (``Resize``, ``PackInputs``,
...) apply unchanged.
"""
from typing import List

import numpy as np
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS

DIGITS_CLASSES = tuple(str(i) for i in range(10))


@DATASETS.register_module()
class DigitsDataset(BaseDataset):
    """scikit-learn's 8x8 digits as an image classification dataset.

    Args:
        split (str): ``'train'`` (1437 images) or ``'test'`` (360 images).
            Defaults to ``'train'``.
        test_every (int): Every ``test_every``-th image goes to the test
            split. Defaults to 5.
        **kwargs: Passed to :class:`mmpretrain.datasets.BaseDataset`
            (``pipeline``, ``test_mode``, ``indices``, ...).
    """

    METAINFO = {'classes': DIGITS_CLASSES}

    def __init__(self, split: str = 'train', test_every: int = 5, **kwargs):
        if split not in ('train', 'test'):
            raise ValueError(
                f"DigitsDataset: split must be 'train' or 'test', got {split!r}")
        if test_every < 2:
            raise ValueError(
                f'DigitsDataset: test_every must be at least 2, got {test_every}')
        self.split = split
        self.test_every = test_every
        kwargs.setdefault('ann_file', '')
        kwargs.setdefault('test_mode', split == 'test')
        super().__init__(**kwargs)

    def load_data_list(self) -> List[dict]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        # 0..16 grey levels -> 0..255, three identical channels.
        images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
        images = np.repeat(images[..., None], 3, axis=-1)
        index = np.arange(len(images))
        is_test = index % self.test_every == 0
        keep = is_test if self.split == 'test' else ~is_test
        return [
            dict(img=np.ascontiguousarray(images[i]), gt_label=int(digits.target[i]))
            for i in index[keep]
        ]

    def extra_repr(self) -> List[str]:
        return [f'Split: \t{self.split}', 'Source: \tsklearn.datasets.load_digits']
