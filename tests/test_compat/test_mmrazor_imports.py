"""After ``import dms_mm``, mmrazor 1.0.0 works on torch 2.x, except for
quantization, which fails with a clear error."""
import pytest
import torch
from torch import nn

import dms_mm  # noqa: F401


def test_mmrazor_packages_import():
    import mmrazor.engine  # noqa: F401
    import mmrazor.models  # noqa: F401
    import mmrazor.structures  # noqa: F401
    from mmrazor.utils import register_all_modules

    register_all_modules(init_default_scope=False)


def test_openmmlab_model_packages_import():
    import mmcv.ops
    import mmdet.models  # noqa: F401
    import mmpretrain.models  # noqa: F401
    import torchvision.ops

    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = mmcv.ops.nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    assert torchvision.ops.nms(boxes, scores, 0.5).tolist() == [0, 2]


def _small_net():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))


def test_mmrazor_pruning_parts_work():
    """ChannelAnalyzer and ChannelMutator trace a small net, dynamic ops
    prune it, and export_fix_subnet/load_fix_subnet round-trip the result."""
    from mmrazor.models.architectures.dynamic_ops import DynamicConv2d
    from mmrazor.models.mutators import ChannelMutator
    from mmrazor.models.task_modules import ChannelAnalyzer
    from mmrazor.structures import export_fix_subnet, load_fix_subnet

    parse_cfg = dict(_scope_='mmrazor', type='ChannelAnalyzer', demo_input=(1, 3, 16, 16),
                     tracer_type='FxTracer')
    unit_configs = ChannelAnalyzer(demo_input=(1, 3, 16, 16),
                                   tracer_type='FxTracer').analyze(_small_net())
    assert len(unit_configs) == 2  # the two conv outputs; the head's output is fixed

    class Pruned(nn.Module):

        def __init__(self):
            super().__init__()
            self.architecture = _small_net()
            self.mutator = ChannelMutator(
                channel_unit_cfg=dict(type='SequentialMutableChannelUnit'),
                parse_cfg=parse_cfg)
            self.mutator.prepare_from_supernet(self.architecture)

    supernet = Pruned()
    assert isinstance(supernet.architecture[0], DynamicConv2d)
    choices = {name: 0.5 for name in supernet.mutator.sample_choices()}
    supernet.mutator.set_choices(choices)
    assert supernet.architecture(torch.rand(2, 3, 16, 16)).shape == (2, 4)

    fix_subnet, static = export_fix_subnet(
        supernet, export_subnet_mode='mutator', slice_weight=True)
    net = static.architecture
    assert type(net[0]) is nn.Conv2d and net[0].out_channels == 4
    assert net[3].out_channels == 8 and net[8].in_features == 8

    fresh = _small_net()
    load_fix_subnet(fresh, fix_subnet, load_subnet_mode='mutator')
    assert type(fresh[0]) is nn.Conv2d and fresh[0].out_channels == 4
    assert type(fresh[3]) is nn.Conv2d and fresh[3].in_channels == 4
    assert fresh(torch.rand(1, 3, 16, 16)).shape == (1, 4)


@pytest.mark.parametrize('cfg', [
    dict(type='MMArchitectureQuant', architecture=dict(type='ImageClassifier'),
         quantizer=dict(type='TorchNativeQuantizer', global_qconfig=dict())),
    dict(type='TorchNativeQuantizer', global_qconfig=dict()),
    dict(type='OpenVINOQuantizer', global_qconfig=dict()),
])
def test_quantization_raises_clear_error(cfg):
    from mmrazor.registry import MODELS

    from dms_mm.compat.mmrazor_quantization import QuantizationUnavailableError

    with pytest.raises(QuantizationUnavailableError,
                       match='quantization is unavailable.*torch 2.x removed'):
        MODELS.build(cfg)


def test_quantization_structures_are_inert_stand_ins():
    from mmrazor.structures.quantization import BackendConfigs

    from dms_mm.compat.mmrazor_quantization import QuantizationUnavailableError

    with pytest.raises(QuantizationUnavailableError, match='BackendConfigs'):
        BackendConfigs['native']
