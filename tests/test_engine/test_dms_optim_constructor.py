import pytest
from mmengine.optim import build_optim_wrapper
from torch import nn

from dms_mm.mutables import DMSMutableChannel


class _Algo(nn.Module):

    def __init__(self):
        super().__init__()
        self.architecture = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.mutator = nn.ModuleList([DMSMutableChannel(4), DMSMutableChannel(3)])


def _wrapper(**paramwise):
    return build_optim_wrapper(
        _Algo(),
        dict(constructor='mmrazor.DMSOptimWrapperConstructor',
             optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4),
             paramwise_cfg=dict(custom_keys={'mutator': dict(lr=0.005)}, **paramwise)))


def test_structure_parameters_get_their_own_group_by_name():
    wrapper = _wrapper()
    groups = wrapper.optimizer.param_groups
    fixed = [g for g in groups if 'fixed_lr' in g]
    assert len(fixed) == 1 and groups[-1] is fixed[0]
    assert fixed[0]['lr'] == 0.005 and fixed[0]['weight_decay'] == 0.0
    assert len(fixed[0]['params']) == 2  # the two keep ratios
    weights = [p for g in groups if 'fixed_lr' not in g for p in g['params']]
    assert len(weights) == 4 and all(g['lr'] == 0.1 for g in groups if 'fixed_lr' not in g)


def test_other_paramwise_options_still_apply():
    model = _Algo()
    wrapper = build_optim_wrapper(
        model,
        dict(constructor='mmrazor.DMSOptimWrapperConstructor',
             optimizer=dict(type='SGD', lr=0.1, weight_decay=1e-4),
             paramwise_cfg=dict(norm_decay_mult=0.0, custom_keys={'mutator': dict(lr=0.005)})))
    bn = model.architecture[1]
    decay = {id(p): g['weight_decay'] for g in wrapper.optimizer.param_groups
             for p in g['params']}
    assert decay[id(bn.weight)] == 0.0 and decay[id(bn.bias)] == 0.0
    assert decay[id(model.architecture[0].weight)] == 1e-4


def test_a_key_that_matches_nothing_is_an_error():
    with pytest.raises(KeyError, match="no parameter name contains 'mutatr'"):
        build_optim_wrapper(
            _Algo(),
            dict(constructor='mmrazor.DMSOptimWrapperConstructor',
                 optimizer=dict(type='SGD', lr=0.1),
                 paramwise_cfg=dict(custom_keys={'mutatr': dict(lr=0.01)})))


def test_schedulers_do_not_move_the_structure_lr():
    from mmengine.optim.scheduler import CosineAnnealingLR

    from dms_mm.engine.optimizers import restore_fixed_lrs

    wrapper = _wrapper()
    scheduler = CosineAnnealingLR(wrapper, T_max=10, by_epoch=False)
    fixed = wrapper.optimizer.param_groups[-1]
    for _ in range(5):
        scheduler.step()
        assert fixed['lr'] != 0.005  # the scheduler moves it ...
        restore_fixed_lrs(wrapper.optimizer)  # ... DMSSchedulerHook, before each step
        assert fixed['lr'] == 0.005
    assert wrapper.optimizer.param_groups[0]['lr'] < 0.1


def test_mmyolo_grouping_keeps_its_order_and_the_structure_group_comes_last():
    """mmyolo's YOLOv5 constructor groups weights, norm weights and biases (its
    param scheduler warms up group 2 as the biases); it would leave the keep
    ratios out, as they are neither weights nor biases."""
    model = _Algo()
    wrapper = build_optim_wrapper(
        model,
        dict(constructor='mmrazor.DMSOptimWrapperConstructor',
             base_constructor='mmyolo.YOLOv5OptimizerConstructor',
             optimizer=dict(type='SGD', lr=0.01, momentum=0.937, weight_decay=5e-4,
                            nesterov=True, batch_size_per_gpu=16),
             paramwise_cfg=dict(base_total_batch_size=64,
                                custom_keys={'mutator': dict(lr=0.005)})))
    groups = wrapper.optimizer.param_groups
    conv, bn = model.architecture
    assert [len(g['params']) for g in groups] == [1, 1, 2, 2]
    assert groups[0]['params'][0] is conv.weight and groups[1]['params'][0] is bn.weight
    assert {id(p) for p in groups[2]['params']} == {id(conv.bias), id(bn.bias)}
    assert groups[3]['fixed_lr'] == 0.005 and groups[3]['weight_decay'] == 0.0
    assert groups[0]['weight_decay'] == 5e-4 and groups[3]['momentum'] == 0.937
