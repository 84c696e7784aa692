"""The generated shapes set as mmyolo reads COCO (``YOLOv5CocoDataset``):
each training sample carries its dataset, which mmyolo's Mosaic draws its
other images from, and validation may use mmyolo's batch shapes. A module of
its own, imported by the YOLOv8 shapes configs (``custom_imports``), since
importing mmyolo's datasets costs time that ``import dms_mm`` should not.
"""
from mmyolo.datasets.yolov5_coco import BatchShapePolicyDataset
from mmyolo.registry import DATASETS

from .shapes_coco_dataset import ShapesCocoDataset


@DATASETS.register_module()
class YOLOShapesCocoDataset(BatchShapePolicyDataset, ShapesCocoDataset):
    """:class:`~dms_mm.datasets.shapes_coco_dataset.ShapesCocoDataset` with
    mmyolo's batch-shape policy and mixed-image augmentation support."""
