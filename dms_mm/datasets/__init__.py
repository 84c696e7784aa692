from .digits import DIGITS_CLASSES, DigitsDataset
from .shapes_coco import SHAPES_CLASSES, generate_shapes_coco, shapes_ann_file

__all__ = ['DIGITS_CLASSES', 'DigitsDataset', 'SHAPES_CLASSES', 'generate_shapes_coco',
           'shapes_ann_file']
