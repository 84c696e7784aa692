"""YOLOv8's C2f (mmyolo's CSPLayerWithTwoConv): split halves, the blocks'
stream, the concatenation into final_conv and the depth, exported exactly."""
import copy

import pytest
import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModel
from mmyolo.models.layers.yolo_bricks import CSPLayerWithTwoConv

from dms_mm.dynamic_ops.c2f import PrunedCSPLayerWithTwoConv
from dms_mm.mutators import DMSMutator
from dms_mm.structures import count_static, to_static
from dms_test_utils import hard_outputs, randomize_structure


class _C2fNet(BaseModel):
    """A stem, a C2f with shortcuts (YOLOv8's backbone), a C2f without (its
    neck) fed by a concatenation, and a head."""

    def __init__(self):
        super().__init__()
        self.stem = ConvModule(3, 16, 3, padding=1, norm_cfg=dict(type='BN'))
        self.backbone = CSPLayerWithTwoConv(16, 32, num_blocks=3, add_identity=True)
        self.neck = CSPLayerWithTwoConv(48, 24, num_blocks=2, add_identity=False)
        self.head = torch.nn.Conv2d(24, 10, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        stem = self.stem(inputs)
        x = self.neck(torch.cat([self.backbone(stem), stem], 1))
        return self.head(x).mean((2, 3))


@pytest.fixture(scope='module')
def searched():
    torch.manual_seed(0)
    model = _C2fNet()
    for module in model.modules():  # BN statistics away from the identity
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 16, 16),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    return model, mutator


def _unit_of(mutator, layer, start):
    return next(u for u in mutator.units for c in u.output_related
                if c.name == layer and c.start == start)


def test_c2f_halves_stream_blocks_and_concatenation_are_units(searched):
    _, mutator = searched
    assert mutator.untraced_parts == {} and mutator.excluded_units == {}
    first = _unit_of(mutator, 'backbone.main_conv.conv', 0)
    assert {(c.name, c.start, c.end) for c in first.input_related} == {
        ('backbone.final_conv.conv', 0, 16), ('backbone.main_conv.bn', 0, 16)}
    # with shortcuts the half, every block's output and their four slices are one stream
    stream = _unit_of(mutator, 'backbone.main_conv.conv', 16)
    slices = sorted((c.start, c.end) for c in stream.input_related
                    if c.name == 'backbone.final_conv.conv')
    assert slices == [(16, 32), (32, 48), (48, 64), (64, 80)]
    assert {f'backbone.blocks.{i}.conv2.conv' for i in range(3)} <= {
        c.name for c in stream.output_related}
    # without shortcuts each block's output is a width of its own
    neck_stream = _unit_of(mutator, 'neck.main_conv.conv', 12)
    assert [(c.start, c.end) for c in neck_stream.input_related
            if c.name == 'neck.final_conv.conv'] == [(12, 24)]
    # the concatenation into the neck: its main_conv reads the backbone's and the stem's
    # outputs as two slices
    assert any(c.name == 'neck.main_conv.conv' and (c.start, c.end) == (32, 48)
               for c in _unit_of(mutator, 'stem.conv', 0).input_related)
    assert mutator.stage_names == ['backbone.blocks']
    report = {b.name: b for stage in mutator.stage_report for b in stage.blocks}
    assert not report['neck.blocks.0'].removable
    assert 'without a shortcut' in report['neck.blocks.0'].reason


@pytest.mark.parametrize('kept_blocks', [[0, 1, 2], [2], [0], []])
def test_c2f_export_folds_removed_blocks_and_equals_the_searched_model(searched, kept_blocks):
    model, mutator = copy.deepcopy(searched)
    randomize_structure(mutator, seed=len(kept_blocks))
    with torch.no_grad():
        mutator.stages[0].set_kept(kept_blocks)
    model.eval()
    static = to_static(model, mutator).eval()
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    expected, got = hard_outputs(model, mutator, static, x, mode='tensor')
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    c2f = static.backbone
    assert type(c2f) is PrunedCSPLayerWithTwoConv and len(c2f.blocks) == len(kept_blocks)
    first, stream = c2f.split_sizes
    assert c2f.final_conv.conv.in_channels == first + stream * (1 + len(kept_blocks))
    # the soft count scales a removed block's slice of final_conv by its depth mask
    soft = mutator.soft_resources()
    flops, params = count_static(static, (1, 3, 16, 16))
    assert soft['params'].item() == params
    assert soft['flops'].item() == pytest.approx(flops, rel=1e-6)
