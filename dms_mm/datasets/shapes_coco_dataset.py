"""``ShapesCocoDataset``: mmdet's ``CocoDataset`` over the generated shapes
set, which it generates on first use.

The shapes configs name it, so that ``python tools/train.py
configs/dms/yolox/dms_yolox-tiny_search_shapes.py`` runs on a fresh clone. It
lives in its own module, imported by those configs' ``custom_imports``, because
importing mmdet's datasets costs seconds that ``import dms_mm`` should not.
"""
import fcntl
import os
import os.path as osp

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS
from mmengine.logging import print_log

from .shapes_coco import SHAPES_CLASSES, SHAPES_SPLITS, generate_shapes_coco, shapes_ann_file


def ensure_shapes_coco(data_root: str) -> bool:
    """Generate the shapes set (the defaults of :func:`generate_shapes_coco`)
    in ``data_root`` unless both annotation files are there.

    Processes that call it together (the ranks of a distributed run) wait for
    the one that generates.

    Returns:
        bool: True if this call generated the set.
    """
    ann_files = [osp.join(data_root, shapes_ann_file(split)) for split in SHAPES_SPLITS]
    if all(osp.isfile(f) for f in ann_files):
        return False
    os.makedirs(data_root, exist_ok=True)
    with open(osp.join(data_root, '.generating.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if all(osp.isfile(f) for f in ann_files):  # another process made it meanwhile
                return False
            print_log(f'ShapesCocoDataset: {data_root} has no shapes set; generating it '
                      '(as `python tools/make_shapes_coco.py DATA_ROOT` does)', logger='current')
            generate_shapes_coco(data_root)
            return True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@DATASETS.register_module()
class ShapesCocoDataset(CocoDataset):
    """The generated shapes set (:mod:`dms_mm.datasets.shapes_coco`) as
    mmdet's ``CocoDataset``: the same arguments, the shapes' classes as
    default ``metainfo``, and the set generated in ``data_root`` (with
    :func:`generate_shapes_coco`'s defaults) when its annotation files are
    missing. For another size of the set, run ``tools/make_shapes_coco.py``
    first; files that exist are never replaced.
    """

    METAINFO = dict(classes=SHAPES_CLASSES,
                    palette=[(220, 20, 60), (0, 128, 0), (0, 0, 255)])

    def __init__(self, *args, data_root: str = '', **kwargs):
        if not data_root:
            raise ValueError('ShapesCocoDataset: set data_root, the folder of the shapes set '
                             '(the shapes configs use data/shapes_coco/)')
        ensure_shapes_coco(data_root)
        super().__init__(*args, data_root=data_root, **kwargs)
