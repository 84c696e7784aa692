"""What DMS finds in mmdet's RTMDet-tiny (CSPNeXt, CSPNeXtPAFPN, RTMDetSepBNHead with
share_conv) through the generic tracer and stage finder, with no RTMDet-specific code."""
import pytest

from dms_det_test_utils import dms_rtmdet


@pytest.fixture(scope='module')
def prepared():
    return dms_rtmdet()


def _unit(mutator, producer):
    """The searched unit whose producers include the layer ``producer``."""
    units = [u for u in mutator.searchable_units
             if producer in {c.name for c in u.output_related}]
    assert len(units) == 1, producer
    return units[0]


def test_every_unit_through_backbone_neck_and_head_is_searched(prepared):
    _, mutator = prepared
    assert len(mutator.searchable_units) == 55
    assert not mutator.excluded_units and not mutator.untraced_parts
    parts = {u.name.split('.')[0] for u in mutator.searchable_units}
    assert parts == {'backbone', 'neck', 'bbox_head'}
    # the class and box outputs keep their width
    for unit in mutator.searchable_units:
        assert not any(c.name.startswith(('bbox_head.rtm_cls', 'bbox_head.rtm_reg'))
                       for c in unit.output_related), unit.name


def test_the_head_convs_shared_across_levels_are_one_unit_each(prepared):
    model, mutator = prepared
    assert mutator.shared_modules == [
        [f'bbox_head.{branch}.{level}.{i}.conv' for level in range(3)]
        for branch in ('cls_convs', 'reg_convs') for i in range(2)]
    for branch in ('cls_convs', 'reg_convs'):
        for i in range(2):
            conv = model.get_submodule(f'bbox_head.{branch}.0.{i}.conv')
            assert type(conv).__name__ == 'DMSConv2d'
            for level in (1, 2):  # every level runs the one masked conv
                assert model.get_submodule(f'bbox_head.{branch}.{level}.{i}.conv') is conv
    # one unit: the shared conv's outputs and the BatchNorm of each level
    unit = _unit(mutator, 'bbox_head.cls_convs.0.0.conv')
    names = {c.name for c in unit.output_related}
    assert {f'bbox_head.cls_convs.{level}.0.bn' for level in range(3)} <= names
    assert 'bbox_head.cls_convs.0.1.conv' in {c.name for c in unit.input_related}
    # the shared first conv reads all three neck outputs: they are one unit
    out_unit = _unit(mutator, 'neck.out_convs.0.conv')
    assert {f'neck.out_convs.{i}.conv' for i in range(3)} <= {
        c.name for c in out_unit.output_related}
    assert {'bbox_head.cls_convs.0.0.conv', 'bbox_head.reg_convs.0.0.conv'} <= {
        c.name for c in out_unit.input_related}


def test_channel_attention_and_depthwise_convs_follow_their_units(prepared):
    _, mutator = prepared
    # ChannelAttention reads concat(main, short) and rescales it: its 1x1 conv is split
    # between the two halves, in the unit of each
    for producer in ('backbone.stage2.1.main_conv.conv', 'backbone.stage2.1.short_conv.conv'):
        unit = _unit(mutator, producer)
        assert 'backbone.stage2.1.attention.fc' in {c.name for c in unit.output_related}
        assert 'backbone.stage2.1.attention.fc' in {c.name for c in unit.input_related}
    # the residual stream of a CSP layer: main conv, the block's last conv, attention
    stream = _unit(mutator, 'backbone.stage2.1.main_conv.conv')
    assert 'backbone.stage2.1.blocks.0.conv2.pointwise_conv.conv' in {
        c.name for c in stream.output_related}
    # a CSPNeXtBlock's depthwise 5x5 conv passes its input channels through
    inner = _unit(mutator, 'backbone.stage2.1.blocks.0.conv1.conv')
    assert 'backbone.stage2.1.blocks.0.conv2.depthwise_conv.conv' in {
        c.name for c in inner.output_related}


def test_stages_are_the_cspnext_blocks_with_an_identity(prepared):
    _, mutator = prepared
    # deepen_factor 0.167: one CSPNeXtBlock per CSP layer
    assert mutator.stage_names == [f'backbone.stage{i}.1.blocks' for i in (1, 2, 3)]
    assert mutator.stage_report_removable() == [[0], [0], [0]]
    report = {stage.name: stage for stage in mutator.stage_report}
    # the last backbone stage (after the SPPF) and the neck's CSP layers are built
    # with add_identity=False: no skip, not removable
    for name in ('backbone.stage4.2.blocks', 'neck.top_down_blocks.0.blocks',
                 'neck.top_down_blocks.1.blocks', 'neck.bottom_up_blocks.0.blocks',
                 'neck.bottom_up_blocks.1.blocks'):
        assert report[name].removable == []
        assert 'no skip connection' in report[name].blocks[0].reason
    summary = mutator.summary()
    assert 'channel units: 55 searched, 0 left out' in summary
    assert '[searched] backbone.stage3.1.blocks: 1 blocks, removable [0]' in summary
