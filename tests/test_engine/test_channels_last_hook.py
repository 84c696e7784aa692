"""ChannelsLastHook: a DMS search step in channels-last computes what it computes in
NCHW, and a search runs through tools/train.py with the hook."""
import copy
import math
from types import SimpleNamespace

import torch
from mmpretrain.structures import DataSample
from mmrazor.registry import HOOKS, MODELS

import dms_mm  # noqa: F401
from dms_mm.structures import scale_to_target
from dms_search_runs import config_with_hooks, run, scalars, search_options


def _algorithm():
    torch.manual_seed(0)
    algorithm = MODELS.build(dict(
        _scope_='mmrazor', type='DMSAlgorithm', target_flops_ratio=0.5,
        architecture=dict(
            _scope_='mmpretrain', type='ImageClassifier',
            backbone=dict(type='ResNet_CIFAR', depth=18, stem_channels=16, base_channels=16),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=128)),
        mutator=dict(type='DMSMutator', parse_cfg=dict(
            type='ChannelAnalyzer', demo_input=(1, 3, 32, 32), tracer_type='FxTracer')),
        data_preprocessor=dict(num_classes=10, mean=[0, 0, 0], std=[1, 1, 1])))
    # a structure part way through a search: ranked channels, partly masked
    with torch.no_grad():
        for mutable in algorithm.mutator.dms_mutables():
            mutable.importance.copy_(torch.rand(mutable.num_elements))
        scale_to_target(algorithm.mutator, 0.4)
    algorithm.set_search_state('search', 0.4)
    return algorithm.train()


def _step(algorithm, inputs, samples):
    losses = algorithm(inputs, samples, mode='loss')
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    total.backward()
    return total.detach(), {name: p.grad.clone() for name, p in algorithm.named_parameters()
                            if p.grad is not None}


def test_the_hook_converts_in_place_and_a_search_step_computes_the_same():
    nchw = _algorithm()
    nhwc = copy.deepcopy(nchw)
    params = {name: p for name, p in nhwc.named_parameters()}
    hook = HOOKS.build(dict(type='ChannelsLastHook'))
    hook.before_train(SimpleNamespace(model=nhwc))
    convs = [p for p in nhwc.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    assert all(params[name] is p for name, p in nhwc.named_parameters())  # same objects
    assert all(not p.is_contiguous() for p in convs if p.shape[1] > 1 and p.shape[-1] > 1)

    inputs = torch.rand(8, 3, 32, 32)
    samples = [DataSample().set_gt_label(i % 10) for i in range(8)]
    exact = copy.deepcopy(nchw).double()
    fresh = copy.deepcopy(nchw).eval()
    loss_a, grads_a = _step(nchw, inputs, samples)
    loss_b, grads_b = _step(nhwc, inputs, samples)
    loss_x, grads_x = _step(exact, inputs.double(), samples)
    assert torch.allclose(loss_a, loss_b, rtol=1e-5), (loss_a, loss_b)
    assert grads_a.keys() == grads_b.keys() == grads_x.keys()

    def error(grads, names):
        got = torch.cat([grads[n].double().flatten() for n in names])
        ref = torch.cat([grads_x[n].flatten() for n in names])
        return float((got - ref).norm() / ref.norm().clamp_min(1e-12))

    # float32 alone is this far from float64 here (batch norm over 8 images, masked
    # channels). Channels-last must be no less exact than NCHW, up to the few ReLUs whose
    # input float32 rounds to the other side of zero in one format: on an AVX2 machine one
    # such element of 32,768 put 0.5 % on the gradients below it (1.3 % on one bias, 7 % on
    # one keep ratio's scalar, where terms cancel) while NCHW was at 1e-6. So: the whole
    # gradient, the keep ratios' gradients together, and each weight and bias within 2 %
    # beyond NCHW's error. A kernel that computes wrongly (oneDNN's strided 1x1 weight
    # gradient: hundreds of times off) fails these.
    keep_ratios = [name for name in grads_a if name.endswith('keep_ratio')]
    assert keep_ratios  # the gradient reaches the structure through the masks
    others = [name for name in grads_a if name not in keep_ratios]
    for names in [list(grads_a), keep_ratios] + [[name] for name in others]:
        assert error(grads_b, names) <= 2 * error(grads_a, names) + 2e-2, names

    # the weights it trains load into an NCHW model and give its outputs
    fresh.load_state_dict(nhwc.state_dict())
    with torch.no_grad():
        assert torch.allclose(fresh(inputs, mode='tensor'), nhwc.eval()(inputs, mode='tensor'),
                              rtol=1e-4, atol=1e-5)


def test_a_search_with_the_hook_trains_and_exports(tmp_path, repo_root, python_exe):
    config = config_with_hooks(tmp_path / 'search.py', repo_root,
                               ["dict(type='mmrazor.ChannelsLastHook')"])
    _, output = run([python_exe, 'tools/train.py', config, '--work-dir', str(tmp_path),
                     '--cfg-options', *search_options(2)], cwd=repo_root)
    assert 'ChannelsLastHook: the ' in output and 'of DMSAlgorithm are channels-last' in output
    rows = scalars(tmp_path)
    assert len(rows) == 8 and all(math.isfinite(r['loss']) for r in rows)
    assert (tmp_path / 'dms_export' / 'subnet.json').is_file()
    assert (tmp_path / 'dms_export' / 'pruned.pth').is_file()
