"""A module reached by several names (weights shared across the levels of a head, as
mmdet's RTMDetSepBNHead with share_conv): one DMS op under every name, one set of masks,
FLOPs counted at every call, one static module after export."""
import pytest
import torch
from torch import nn

from dms_mm.mutators import DMSMutator
from dms_mm.mutators.shared_modules import relink_shared_modules, shared_module_paths
from dms_mm.structures import count_static, to_static
from dms_test_utils import hard_outputs, randomize_structure


def conv_bn(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU())


class TwoLevelNet(nn.Module):
    """Two feature levels; the head conv is one module with a BatchNorm per level
    (``levels.N.0`` are the same conv), and the output conv runs on both levels."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(3, 16)
        self.down = conv_bn(16, 16, stride=2)
        shared = nn.Conv2d(16, 24, 3, padding=1, bias=False)
        self.levels = nn.ModuleList(
            nn.Sequential(shared, nn.BatchNorm2d(24), nn.ReLU()) for _ in range(2))
        self.out = nn.Conv2d(24, 5, 1)

    def forward(self, x):
        a = self.stem(x)
        b = self.down(a)
        return tuple(self.out(level(f)) for level, f in zip(self.levels, (a, b)))


def test_paths_and_relink():
    net = TwoLevelNet()
    assert shared_module_paths(net) == [['levels.0.0', 'levels.1.0']]
    net.levels[0][0] = nn.Conv2d(16, 24, 1)
    assert relink_shared_modules(net, [['levels.0.0', 'levels.1.0']]) == 1
    assert net.levels[1][0] is net.levels[0][0]


@pytest.fixture(scope='module')
def searched():
    torch.manual_seed(0)
    net = TwoLevelNet().eval()
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 16, 16),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(net)
    return net, mutator


def test_the_shared_conv_is_one_op_in_searched_units(searched):
    net, mutator = searched
    assert not mutator.excluded_units
    assert type(net.levels[0][0]).__name__ == 'DMSConv2d'
    assert net.levels[1][0] is net.levels[0][0]
    # both levels feed the shared conv: the stem and the downsampling are one unit
    # (producers with weights); the shared conv's unit holds the BatchNorm of each level
    units = {frozenset(c.name for c in u.output_related if isinstance(c.module, nn.Module)
                       and any(True for _ in c.module.parameters()))
             for u in mutator.searchable_units}
    assert units == {frozenset({'stem.0', 'stem.1', 'down.0', 'down.1'}),
                     frozenset({'levels.0.0', 'levels.0.1', 'levels.1.1'})}


def test_soft_count_counts_every_call_and_export_keeps_the_sharing(searched):
    net, mutator = searched
    flops, params = count_static(TwoLevelNet(), (1, 3, 16, 16))
    assert mutator.supernet_flops == flops and mutator.supernet_params == params
    randomize_structure(mutator, seed=1)
    static = to_static(net, mutator).eval()
    assert static.levels[1][0] is static.levels[0][0]
    assert type(static.levels[0][0]) is nn.Conv2d and static.levels[0][0].out_channels < 24
    with torch.no_grad():
        soft = mutator.soft_resources()
    flops, params = count_static(static, (1, 3, 16, 16))
    assert (flops, params) == (pytest.approx(soft['flops'].item()),
                               pytest.approx(soft['params'].item()))
    expected, got = hard_outputs(net, mutator, static, torch.rand(2, 3, 16, 16))
    for e, g in zip(expected, got):
        assert torch.allclose(e, g, atol=1e-5)
