"""What DMS finds in mmyolo's YOLOv8-n (the shipped tiny config's architecture):
units through backbone, neck and head, C2f's halves and blocks, the depth of the
backbone's C2f; the static model equals the searched one and mmengine's count of
it equals the soft count."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmyolo.registry import MODELS as YOLO_MODELS

from dms_det_test_utils import REPO_ROOT, flat_outputs, max_relative_error
from dms_mm.mutators import DMSMutator
from dms_mm.structures import count_static, to_static
from dms_test_utils import randomize_structure

TINY_YOLOV8 = 'configs/dms/yolov8/dms_yolov8-n_search_shapes.py'


@pytest.fixture(scope='module')
def prepared():
    # a ConfigDict: mmyolo's head reads its train_cfg by attribute
    architecture = Config.fromfile(f'{REPO_ROOT}/{TINY_YOLOV8}').model.architecture
    architecture.pop('_scope_')
    with DefaultScope.overwrite_default_scope('mmyolo'):
        model = YOLO_MODELS.build(architecture)
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 128, 128),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    return model, mutator


def test_units_run_through_backbone_neck_and_head_and_inside_c2f(prepared):
    _, mutator = prepared
    assert not mutator.untraced_parts
    # the box distribution output reads a parameter outside any layer: left out, named
    assert list(mutator.excluded_units) == ['bbox_head.head_module.reg_preds.0.2_(0, 64)_1']
    searched = [u.name for u in mutator.searchable_units]
    for part in ('backbone.', 'neck.', 'bbox_head.'):
        assert any(name.startswith(part) for name in searched), part
    stream = next(u for u in mutator.units for c in u.output_related
                  if c.name == 'backbone.stage3.1.main_conv.conv' and c.start > 0)
    assert {f'backbone.stage3.1.blocks.{i}.conv2.conv' for i in range(2)} <= {
        c.name for c in stream.output_related}
    assert mutator.stage_names == [f'backbone.stage{i}.1.blocks' for i in (1, 2, 3, 4)]
    report = {stage.name: stage for stage in mutator.stage_report}
    assert report['neck.top_down_layers.0.blocks'].removable == []


@pytest.mark.parametrize('seed', [0, 1])
def test_static_yolov8_equals_the_searched_one_and_its_counts(prepared, seed):
    model, mutator = copy.deepcopy(prepared)
    randomize_structure(mutator, seed=seed)
    with torch.no_grad():
        mutator.stages[1].set_kept([1])  # a block removed: its slice folds away
    model.eval()
    static = to_static(model, mutator).eval()
    x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(seed))
    mutator.refresh_masks('hard')
    try:
        with torch.no_grad():
            expected = model(x, mode='tensor')
    finally:
        mutator.clear_masks()
    with torch.no_grad():
        got = static(x, mode='tensor')
    assert len(flat_outputs(got)) == len(flat_outputs(expected))
    assert max_relative_error(expected, got) < 1e-4
    soft = mutator.soft_resources()
    flops, params = count_static(static, (1, 3, 128, 128))
    assert soft['params'].item() == params
    assert soft['flops'].item() == pytest.approx(flops, rel=1e-6)
    assert len(static.backbone.stage2[1].blocks) == 1
