"""The DeiT configs: the paper's supernet and target, and the configs that go with it."""
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmrazor.registry import MODELS

from dms_mm.mutators import DMSMutator

SEARCH_IN1K = 'configs/dms/deit/dms_deit-tiny_search_in1k.py'


def _counted_flops(architecture, arch):
    cfg = dict(architecture)
    cfg.pop('_scope_', None)
    cfg['backbone'] = dict(cfg['backbone'], arch=arch)
    cfg['head'] = dict(cfg['head'], in_channels=192)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = PRETRAIN_MODELS.build(cfg)
    mutator = DMSMutator(parse_cfg=dict(type='ChannelAnalyzer', demo_input=(1, 3, 224, 224),
                                        tracer_type='FxTracer'))
    mutator.prepare_from_supernet(model)
    return mutator.supernet_flops


def test_the_in1k_search_is_deit_s_at_16_layers_searched_to_deit_t(repo_root):
    cfg = Config.fromfile(f'{repo_root}/{SEARCH_IN1K}')
    # the target is DeiT-T's FLOPs, as DMS (and mmengine, on the static model) count them
    deit_t = _counted_flops(cfg.model.architecture.to_dict(), 'deit-tiny')
    assert cfg.model.target_flops == pytest.approx(deit_t, rel=1e-4)
    with DefaultScope.overwrite_default_scope('mmrazor'), torch.no_grad():
        algorithm = MODELS.build(cfg.model)
    backbone = algorithm.architecture.backbone
    assert (len(backbone.layers), backbone.embed_dims) == (16, 384)
    mutator = algorithm.mutator
    assert len(mutator.attentions) == 16 and mutator.stages[0].num_blocks == 16
    # the paper's supernet is about 6.1 GFLOPs; the target about a fifth of it
    assert mutator.supernet_flops == pytest.approx(6.12e9, rel=0.01)
    assert cfg.model.target_flops / mutator.supernet_flops == pytest.approx(0.2055, abs=0.001)


@pytest.mark.parametrize('name', ['retrain_in1k', 'search_digits', 'retrain_digits'])
def test_the_other_deit_configs_parse_and_share_the_architecture(repo_root, name):
    search = Config.fromfile(f'{repo_root}/{SEARCH_IN1K}')
    cfg = Config.fromfile(f'{repo_root}/configs/dms/deit/dms_deit-tiny_{name}.py')
    backbone = cfg.model.architecture.backbone
    assert backbone.type == search.model.architecture.backbone.type == 'VisionTransformer'
    if name.startswith('retrain'):
        assert cfg.model.type == 'DMSSubModel' and cfg.custom_hooks == []
    else:
        assert cfg.model.type == 'DMSAlgorithm' and cfg.model.target_flops is None
