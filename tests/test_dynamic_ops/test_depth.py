"""Stages in an ``nn.ModuleList``: found when a demo forward runs its blocks as
a chain, searched in depth, and exported by deleting blocks from the list; a
list whose forward reads the blocks' positions is reported, not searched."""
import pytest
import torch
from mmengine.model import BaseModel
from torch import nn

from dms_mm.dynamic_ops import chained_module_lists
from dms_mm.mutators import DMSMutator
from dms_mm.structures import to_static
from dms_test_utils import hard_outputs


class _Residual(nn.Module):

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return torch.relu(x + self.bn(self.conv(x)))


class _ListNet(BaseModel):
    """A stem, residual blocks in a ModuleList run in a loop, a second list
    whose blocks all read the same input (heads, not a chain), a classifier;
    with ``out_index`` the forward keeps the output of that block position."""

    def __init__(self, blocks=3, out_index=None):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.ModuleList(_Residual(8) for _ in range(blocks))
        self.heads = nn.ModuleList(nn.Conv2d(8, 8, 1) for _ in range(2))
        self.fc = nn.Linear(8, 4)
        self.out_index = out_index

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = self.stem(inputs)
        kept = None
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == self.out_index:
                kept = x
        x = x if kept is None else kept
        x = sum(head(x) for head in self.heads)
        return self.fc(x.mean((2, 3)))


def _mutator():
    return DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 8, 8),
                                     tracer_type='FxTracer'))


def test_only_a_list_whose_blocks_run_as_a_chain_is_one():
    model = _ListNet()
    x = torch.rand(1, 3, 8, 8)
    assert chained_module_lists(model, lambda: model(x)) == {'blocks'}


def test_blocks_in_a_module_list_are_searched_and_exported_by_deleting_them():
    torch.manual_seed(0)
    model = _ListNet()
    mutator = _mutator()
    mutator.prepare_from_supernet(model)
    assert mutator.stage_names == ['blocks']
    assert mutator.stage_blocks == [['blocks.0', 'blocks.1', 'blocks.2']]
    mutable, = mutator.stages
    mutable.importance.copy_(torch.tensor([0.1, 0.3, 0.2]))
    mutable.set_keep_count(1)  # the most important block stays
    kept = mutable.kept_indices()
    static = to_static(model, mutator).eval()
    assert len(static.blocks) == 1 and isinstance(static.blocks, nn.ModuleList)
    model.eval()
    x = torch.rand(2, 3, 8, 8)
    searched, exported = hard_outputs(model, mutator, static, x)
    assert torch.allclose(searched, exported, atol=1e-5)
    assert kept == [1] and '[searched] blocks' in mutator.summary()


def test_a_list_whose_forward_reads_block_positions_is_reported_not_searched():
    mutator = _mutator()
    mutator.prepare_from_supernet(_ListNet(out_index=1))
    assert mutator.stage_names == []
    report = mutator.summary()
    assert 'blocks' in report and "reads the blocks' positions or count" in report


@pytest.mark.parametrize('blocks', [1, 4])
def test_the_check_puts_every_block_back(blocks):
    model = _ListNet(blocks=blocks)
    before = [id(b) for b in model.blocks]
    _mutator().prepare_from_supernet(model)
    assert [id(b) for b in model.blocks] == before


def _zoo_classifier(backbone, channels):
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(dict(type='ImageClassifier', backbone=backbone,
                                 neck=dict(type='GlobalAveragePooling'),
                                 head=dict(type='LinearClsHead', num_classes=10,
                                           in_channels=channels)))


@pytest.mark.parametrize('backbone,channels,stages', [
    # Swin's blocks sit in a ModuleList; each adds its attention, then its FFN adds
    # its identity (two residual branches in series)
    (dict(type='SwinTransformer', arch='tiny', img_size=32, window_size=1), 768,
     {'backbone.stages.0.blocks': 2, 'backbone.stages.2.blocks': 6}),
    # PoolFormer's blocks: two residual sums in series, in an nn.Sequential
    (dict(type='PoolFormer', arch='s12'), 512, {'backbone.network.4': 6}),
])
def test_transformer_style_blocks_are_searched_in_depth_and_exported(backbone, channels, stages):
    torch.manual_seed(0)
    model = _zoo_classifier(backbone, channels).eval()
    mutator = _mutator()
    mutator.prepare_from_supernet(model)
    found = dict(zip(mutator.stage_names, (len(b) for b in mutator.stage_blocks)))
    assert all(found.get(name) == count for name, count in stages.items()), found
    for mutable in mutator.stages:  # about half of every stage's blocks kept
        mutable.importance.copy_(torch.rand(mutable.num_elements))
        mutable.set_keep_count(max(1, mutable.num_elements // 2))
    static = to_static(model, mutator).eval()
    removed = sum(len(b) - m.num_kept for b, m in zip(mutator.stage_blocks, mutator.stages))
    modules = dict(static.named_modules())
    assert removed > 0 and [len(modules[name]) for name in mutator.stage_names] == [
        m.num_kept for m in mutator.stages]
    x = torch.rand(2, 3, 32, 32)
    searched, exported = hard_outputs(model, mutator, static, x, mode='tensor')
    assert torch.allclose(searched[-1] if isinstance(searched, tuple) else searched,
                          exported[-1] if isinstance(exported, tuple) else exported,
                          atol=1e-4)
