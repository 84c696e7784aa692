import copy
import functools

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


def _layernorm_and_op(channels, bias, keep, mode):
    """A LayerNorm with random affine parameters, its DMS op and the op's
    mutable at ``keep``, its mask refreshed in ``mode``."""
    ln = nn.LayerNorm(channels, bias=bias)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        if bias:
            ln.bias.uniform_(-0.5, 0.5)
    op = DMSLayerNorm.convert_from(ln)
    mutable = _mutable(channels, keep)
    _attach(op, mutable, mutable)
    mutable.refresh(mode)
    return ln, op, mutable


@pytest.mark.parametrize('bias', [True, False])
def test_layernorm_statistics_over_kept_channels_only(bias):
    ln, op, mutable = _layernorm_and_op(8, bias, 0.5, 'hard')
    keep = mutable.current_mask
    x = torch.randn(3, 5, 8)
    out = op(x)
    small = nn.LayerNorm(int(keep.sum()), bias=bias)
    with torch.no_grad():
        small.weight.copy_(ln.weight[keep])
        if bias:
            small.bias.copy_(ln.bias[keep])
    torch.testing.assert_close(out[..., keep], small(x[..., keep]))
    assert torch.all(out[..., ~keep] == 0)
    static = op.to_static_op()  # the export keeps it with or without a bias
    assert (static.bias is None) == (not bias) and static.weight.shape == (int(keep.sum()), )
    torch.testing.assert_close(static(x[..., keep]), small(x[..., keep]))


@pytest.mark.parametrize('bias', [True, False])  # (mmrazor's LayerNorm is always affine)
def test_layernorm_with_a_soft_mask_is_the_masked_statistics_formula(bias):
    """Between 0 and 1: ``x * m``, mean and variance over ``m.sum()`` of the
    masked and centred input, the affine map, ``* m``; gradients included."""
    ln, op, mutable = _layernorm_and_op(16, bias, 0.6, 'soft')
    mask = mutable.channel_mask
    assert ((mask > 0) & (mask < 1)).any()  # soft somewhere
    x = torch.randn(3, 5, 16, generator=torch.Generator().manual_seed(1)) * 3 + 2
    x.requires_grad_(True)

    def reference(x, mask):
        kept = mask.sum()
        masked = x * mask
        centred = (masked - masked.sum(-1, keepdim=True) / kept) * mask
        y = centred / torch.sqrt(centred.pow(2).sum(-1, keepdim=True) / kept + ln.eps)
        y = y * ln.weight
        if bias:
            y = y + ln.bias
        return y * mask

    upstream = torch.randn(3, 5, 16)
    inputs = [x, mask] + [p for p in (ln.weight, ln.bias) if p is not None]
    got = torch.autograd.grad((op(x) * upstream).sum(),
                              [x, mask] + [p for p in (op.weight, op.bias) if p is not None])
    want = torch.autograd.grad((reference(x, mask) * upstream).sum(), inputs)
    torch.testing.assert_close(op(x), reference(x, mask))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)  # float sums in another order


@pytest.mark.parametrize('bias', [True, False])
@pytest.mark.parametrize('mask_scale', [1.0, 0.1])  # at 0.1 the mask sums below 1 (K clamped)
def test_masked_layer_norm_gradients_pass_gradcheck(bias, mask_scale):
    from dms_mm.dynamic_ops.ops import MaskedLayerNorm

    gen = torch.Generator().manual_seed(0)
    x = (torch.randn(2, 3, 7, generator=gen, dtype=torch.float64) * 2 + 1).requires_grad_()
    mask = torch.rand(7, generator=gen, dtype=torch.float64) * mask_scale
    mask[0] = 0.0  # a pruned channel
    mask.requires_grad_()
    weight = torch.randn(7, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(7, generator=gen, dtype=torch.float64, requires_grad=True) if bias else None
    assert torch.autograd.gradcheck(lambda *t: MaskedLayerNorm.apply(*t, 1e-5),
                                    (x, mask, weight, b))


@pytest.mark.parametrize('batch', [1, 40])  # the output masked at 1, the weight's rows at 40
def test_a_linear_with_masked_outputs_gives_the_masked_output_and_its_gradients(batch):
    linear = nn.Linear(8, 6)
    op = DMSLinear.convert_from(linear)
    m_in, m_out = _mutable(8, 0.6), _mutable(6, 0.5, seed=1)
    _attach(op, m_in, None)
    op.mask_outputs(lambda: m_out.channel_mask)
    x = torch.randn(batch, 3, 8, generator=torch.Generator().manual_seed(0), requires_grad=True)
    for mutable in (m_in, m_out):
        mutable.refresh('soft')
    out = op(x)
    upstream = torch.randn(out.shape)
    params = [x, op.weight, op.bias, m_in.channel_mask, m_out.channel_mask]
    got = torch.autograd.grad((out * upstream).sum(), params)
    ref = linear(x * m_in.channel_mask) * m_out.channel_mask
    want = torch.autograd.grad((ref * upstream).sum(),
                               [x, linear.weight, linear.bias] + params[3:])
    torch.testing.assert_close(out, ref)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-5)


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


@pytest.mark.parametrize('layer, shape', [
    (nn.Conv2d(8, 6, 3, padding=1), (8, 5, 5)),
    (nn.Conv2d(8, 8, 3, padding=1, groups=8), (8, 5, 5)),
    (nn.Conv2d(8, 8, 3, padding=1, groups=2), (8, 5, 5)),
    (nn.Linear(8, 6), (3, 8)),
])
@pytest.mark.parametrize('batch', [1, 40])  # a small batch masks the input, a large one the weight
def test_masking_the_weight_or_the_input_gives_the_same_outputs_and_gradients(layer, shape, batch):
    layer = copy.deepcopy(layer)  # a fresh gradient in each case
    linear = type(layer) is nn.Linear
    op = (DMSLinear if linear else DMSConv2d).convert_from(layer)
    m_in = _mutable(8, 0.6)
    _attach(op, m_in, None)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, *shape, generator=generator, requires_grad=True)
    m_in.refresh('track')
    out = op(x)
    upstream = torch.randn(out.shape, generator=generator)
    (out * upstream).sum().backward()
    got = dict(x=x.grad, w=op.weight.grad, keep=m_in.keep_ratio.grad,
               score=m_in.pop_taylor_score())
    # the weight at 40; at 1, the input, except for the depthwise conv's tiny weight
    weight_path = batch == 40 or getattr(layer, 'groups', 1) == 8
    assert (op.weight.numel() < x.numel()) == weight_path

    close = functools.partial(torch.testing.assert_close, rtol=1e-4, atol=1e-4)  # float sums
    m_in.keep_ratio.grad = None
    x_ref = x.detach().clone().requires_grad_(True)
    mask = m_in.compute_soft_mask()
    view = [1] * x.dim()
    view[-1 if linear else 1] = -1
    ref = layer(x_ref * mask.view(view))
    close(out, ref)
    mask_grad, = torch.autograd.grad((ref * upstream).sum(), mask, retain_graph=True)
    (ref * upstream).sum().backward()
    close(got['x'], x_ref.grad)
    close(got['w'], layer.weight.grad)
    close(got['keep'], m_in.keep_ratio.grad)
    close(got['score'], (mask.detach() * mask_grad).pow(2))
