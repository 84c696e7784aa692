"""What DMS finds in mmdet's YOLOX (CSPDarknet, YOLOXPAFPN, YOLOXHead): channel units
through backbone, neck and head, and the bottleneck blocks of the CSP layers."""
import pytest

from dms_det_test_utils import dms_yolox


@pytest.fixture(scope='module')
def prepared():
    return dms_yolox()


def test_units_run_through_backbone_neck_and_head(prepared):
    _, mutator = prepared
    assert not mutator.excluded_units and not mutator.untraced_parts
    searched = [u.name for u in mutator.searchable_units]
    for part in ('backbone.', 'neck.', 'bbox_head.'):
        assert any(name.startswith(part) for name in searched), part
    # the CSP residual stream is one unit: the main conv and every bottleneck's last conv
    stream = [u for u in mutator.searchable_units
              if u.name.startswith('backbone.stage2.1.main_conv')][0]
    producers = {c.name for c in stream.output_related}
    assert {f'backbone.stage2.1.blocks.{i}.conv2.conv' for i in range(3)} <= producers
    # a neck output feeds both branches of its head level
    out_unit = [u for u in mutator.searchable_units if u.name.startswith('neck.out_convs.0')][0]
    consumers = {c.name for c in out_unit.input_related}
    assert {'bbox_head.multi_level_cls_convs.0.0.conv',
            'bbox_head.multi_level_reg_convs.0.0.conv'} <= consumers
    # the class, box and objectness outputs keep their width
    for unit in mutator.searchable_units:
        assert not any('multi_level_conv_' in c.name for c in unit.output_related), unit.name


def test_stages_are_the_bottlenecks_of_the_backbone_csp_layers(prepared):
    _, mutator = prepared
    assert mutator.stage_names == [f'backbone.stage{i}.1.blocks' for i in (1, 2, 3)]
    assert mutator.stage_report_removable() == [[0], [0, 1, 2], [0, 1, 2]]
    report = {stage.name: stage for stage in mutator.stage_report}
    # built with add_identity=False: no skip, not removable
    for name in ('backbone.stage4.2.blocks', 'neck.top_down_blocks.0.blocks',
                 'neck.bottom_up_blocks.1.blocks'):
        assert report[name].removable == []
        assert 'no skip connection' in report[name].blocks[0].reason
    summary = mutator.summary()
    assert '[searched] backbone.stage2.1.blocks: 3 blocks, removable [0, 1, 2]' in summary
