"""mmyolo 0.6.0 beside mmcv 2.1.0: it imports under dms_mm (its mmcv version
check passed for the import only), and its collate function runs from a config
that inherits an mmyolo base config."""
import subprocess
from functools import partial

import mmcv
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.dataset import COLLATE_FUNCTIONS
from mmengine.hub import get_config
from mmengine.structures import InstanceData

import dms_mm  # noqa: F401
from dms_mm.compat import mmyolo_collate_scope, mmyolo_mmcv_version


def test_without_the_fix_mmyolo_refuses_mmcv_2_1(python_exe, repo_root):
    """The problem, as a user meets it: mmyolo alone."""
    proc = subprocess.run([python_exe, '-c', 'import mmyolo'], cwd=repo_root,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert 'MMCV==2.1.0 is used but incompatible' in proc.stderr


def test_mmyolo_imports_and_mmcv_keeps_its_version():
    assert mmyolo_mmcv_version.is_applied()
    assert mmcv.__version__ == '2.1.0'
    from mmyolo.registry import MODELS
    cfg = get_config('mmyolo::yolov8/yolov8_n_syncbn_fast_8xb16-500e_coco.py')
    with MODELS.switch_scope_and_registry('mmyolo') as registry:
        model = registry.build(cfg.model)
    assert type(model.backbone).__name__ == 'YOLOv8CSPDarknet'


def test_yolov5_collate_takes_the_scope_an_mmyolo_base_config_gives_it():
    assert mmyolo_collate_scope.is_applied()
    sample = DetDataSample()
    sample.gt_instances = InstanceData(bboxes=HorizontalBoxes(torch.tensor([[1., 2., 5., 6.]])),
                                       labels=torch.tensor([3]))
    batch = [dict(inputs=torch.zeros(3, 8, 8), data_samples=sample)] * 2
    # what mmengine's runner does with collate_fn=dict(type=..., _scope_='mmyolo')
    collate = partial(COLLATE_FUNCTIONS.get('yolov5_collate'), _scope_='mmyolo')
    out = collate(batch)
    assert out['inputs'].shape == (2, 3, 8, 8)
    assert out['data_samples']['bboxes_labels'].tolist() == [[0, 3, 1, 2, 5, 6],
                                                              [1, 3, 1, 2, 5, 6]]
