import pytest
import torch
from mmengine.analysis import parameter_count
from mmrazor.models.mutables import MutableChannelContainer
from torch import nn

from dms_mm.dynamic_ops import DepthScaleHook, DMSConv2d, DMSLayerNorm, DMSLinear, identity_skip
from dms_mm.mutables import DMSMutableBlocks, DMSMutableChannel
from dms_test_utils import dms_model, hard_outputs, mmengine_flops, pruned_copy, randomize_structure


def _attach(op, in_mutable=None, out_mutable=None):
    for attr, mutable in (('in_channels', in_mutable), ('out_channels', out_mutable)):
        num = getattr(op, op.attr_mappings.get(attr, attr)) if hasattr(op, 'attr_mappings') \
            else None
        container = MutableChannelContainer(num if num is not None else mutable.num_channels)
        if mutable is not None:
            container.register_mutable(mutable, 0, mutable.num_channels)
        if op.get_mutable_attr(attr) is None:
            op.register_mutable_attr(attr, container)


def _mutable(n, keep, seed=0):
    m = DMSMutableChannel(n)
    m.importance.copy_(torch.rand(n, generator=torch.Generator().manual_seed(seed)))
    m.current_choice = keep
    return m


@pytest.mark.parametrize('groups', [1, 2, 8])
def test_conv_masks_its_input(groups):
    conv = nn.Conv2d(8, 8, 3, padding=1, groups=groups)
    op = DMSConv2d.convert_from(conv)
    assert torch.equal(op.weight, conv.weight)  # weights are carried over
    m_in = _mutable(8, 0.5)
    _attach(op, m_in, _mutable(8, 1.0, 1))
    x = torch.randn(2, 8, 5, 5)
    m_in.refresh('soft')
    expected = conv(x * m_in.channel_mask.view(1, 8, 1, 1))
    torch.testing.assert_close(op(x), expected)


def test_linear_masks_its_input_features():
    linear = nn.Linear(6, 3)
    op = DMSLinear.convert_from(linear)
    m_in = _mutable(6, 0.5)
    _attach(op, m_in, None)
    x = torch.randn(4, 6)
    m_in.refresh('hard')
    torch.testing.assert_close(op(x), linear(x * m_in.channel_mask))


def test_layernorm_statistics_over_kept_channels_only():
    ln = nn.LayerNorm(8)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        ln.bias.uniform_(-0.5, 0.5)
    op = DMSLayerNorm.convert_from(ln)
    mutable = _mutable(8, 0.5)
    _attach(op, mutable, mutable)
    mutable.refresh('hard')
    keep = mutable.current_mask
    x = torch.randn(3, 5, 8)
    out = op(x)
    small = nn.LayerNorm(int(keep.sum()))
    with torch.no_grad():
        small.weight.copy_(ln.weight[keep])
        small.bias.copy_(ln.bias[keep])
    torch.testing.assert_close(out[..., keep], small(x[..., keep]))
    assert torch.all(out[..., ~keep] == 0)


def test_depth_hook_is_identity_at_zero_and_block_at_one():

    class Block(nn.Module):

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            return x + self.conv(x)

    block = Block()
    assert identity_skip(block) == (True, 'identity skip')
    blocks = DMSMutableBlocks(2)
    blocks.importance.copy_(torch.tensor([1.0, 2.0]))
    block.register_forward_hook(DepthScaleHook(blocks, 0))
    x = torch.randn(1, 4, 3, 3)
    blocks.current_choice = 1.0
    blocks.refresh('hard')
    torch.testing.assert_close(block(x), x + block.conv(x))
    blocks.current_choice = 0.5  # keeps element 1 only
    blocks.refresh('hard')
    torch.testing.assert_close(block(x), x)


def test_blocks_without_identity_skip_are_not_removable():

    class Plain(nn.Module):

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)

        def forward(self, x):
            return self.conv(x)

    class Projected(Plain):

        def forward(self, x):
            return self.conv(x) + x.mean()

    removable, reason = identity_skip(Plain())
    assert not removable and 'no skip' in reason
    removable, reason = identity_skip(Projected())
    assert not removable and 'not an identity' in reason


def test_straight_through_counts_value_hard_gradient_soft():
    conv = DMSConv2d.convert_from(nn.Conv2d(8, 16, 3, padding=1))
    m_in, m_out = _mutable(8, 0.5), _mutable(16, 0.25, 1)
    _attach(conv, m_in, m_out)
    conv.dms_in_shape, conv.dms_out_shape = (1, 8, 4, 4), (1, 16, 4, 4)
    flops = conv.soft_flops()
    assert flops.item() == 4 * 4 * 9 * 16  # 4 in x 4 out channels kept, 3x3, 4x4 output
    flops.backward()
    # d flops / d keep = (d n_in / d keep) * n_out * 9 * 16, d n_in / d keep ~ N
    assert m_in.keep_ratio.grad.item() == pytest.approx(8 * 4 * 9 * 16, rel=0.15)
    assert m_out.keep_ratio.grad.item() > 0


@pytest.mark.parametrize('name', ['efficientnet-b0', 'resnet18', 'mobilenet-v2'])
@pytest.mark.parametrize('seed', [0, 1])
def test_soft_flops_match_an_independent_count_of_the_pruned_model(name, seed):
    model, mutator = dms_model(name)
    mutator.refresh_masks('hard')  # constant masks for mmengine's jit trace
    full, _ = mmengine_flops(model)
    assert mutator.supernet_flops == pytest.approx(full, rel=0.01)

    randomize_structure(mutator, seed=seed)
    soft = mutator.soft_resources()
    static = pruned_copy(model, mutator)
    assert not any(type(m).__name__.startswith('DMS') for m in static.modules())
    counted, _ = mmengine_flops(static)
    assert counted < 0.9 * full  # really pruned
    assert soft['flops'].item() == pytest.approx(counted, rel=0.01)
    assert soft['params'].item() == pytest.approx(parameter_count(static)[''], rel=0.01)


def test_soft_masked_model_equals_pruned_model_at_hard_masks():
    model, mutator = dms_model('mobilenet-v2')
    randomize_structure(mutator, seed=3)
    model.eval()
    static = pruned_copy(model, mutator)
    expected, got = hard_outputs(model, mutator, static, torch.rand(2, 3, 32, 32))
    torch.testing.assert_close(expected, got, rtol=1e-4, atol=1e-5)
