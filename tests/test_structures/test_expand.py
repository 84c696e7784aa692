"""Scaling up: a base model grown into a larger supernet keeps its weights."""
import copy

import pytest
import torch
from mmrazor.registry import MODELS

from dms_mm.mutators import DMSMutator
from dms_mm.structures import (
    ExpandError,
    PrunedCheckpointError,
    SubnetError,
    apply_subnet,
    build_subnet,
    expand_model,
    export_subnet,
    load_subnet,
    to_static,
)
from dms_test_utils import build_classifier, classifier_config, randomize_structure

PARSE_32 = dict(type='ChannelAnalyzer', demo_input=(1, 3, 32, 32), tracer_type='FxTracer')
MUTATOR_32 = dict(type='DMSMutator', parse_cfg=PARSE_32)


def _base_subnet(mutator, report):
    """The subnet of the grown model that keeps exactly the base model's
    channels (the first ones of each unit) and blocks (all but the copies)."""
    base_width = {u.layer: u.channels for u in report.units}
    subnet = build_subnet(mutator)
    for entry, unit in zip(subnet['units'], mutator.units):
        width = base_width.get(unit.output_related[0].name, unit.num_channels)
        entry['kept'] = list(range(width))
    copies = {s.name: s.copies for s in report.stages}
    for entry in subnet['stages']:
        inserted, offset = set(), 0
        for block, n in copies.get(entry['name'], []):
            after = int(block.rsplit('.', 1)[1]) + offset
            inserted.update(range(after + 1, after + 1 + n))
            offset += n
        entry['kept_blocks'] = [i for i in range(entry['num_blocks']) if i not in inserted]
    return subnet


def _prune_back(grown, report):
    mutator = DMSMutator(parse_cfg=PARSE_32)
    mutator.prepare_from_supernet(grown)
    apply_subnet(mutator, _base_subnet(mutator, report))
    return to_static(grown, mutator).eval()


@pytest.mark.parametrize('name', ['efficientnet-b0', 'resnet18', 'mobilenet-v2'])
def test_grown_model_holds_the_base_model(name):
    base = build_classifier(name).eval()
    grown = copy.deepcopy(base)
    report = expand_model(grown, channel_ratio=1.5, block_ratio=2.0, mutator=MUTATOR_32)
    assert report.units and report.stages
    for unit in report.units:
        assert unit.new_channels == int(unit.channels * 1.5)
    params = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert params(grown) > 2 * params(base)
    # keeping the base model's channels and blocks of the grown model gives the base
    # model back, output for output: its weights were copied, not re-drawn
    pruned_back = _prune_back(grown, report)
    assert params(pruned_back) == params(base)
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(pruned_back(x), base(x), rtol=1e-4, atol=1e-5)


def test_depth_grows_per_run_of_blocks_of_one_width():
    """EfficientNet-B0's stage 4 holds two widths (80 and 112 channels, 3 blocks
    each); each run of removable blocks gets its own copies, as in the paper's
    B0 -> depths [1, 3, 3, 5, 5, 7, 1]."""
    grown = build_classifier('efficientnet-b0')
    report = expand_model(grown, block_ratio=2.0, mutator=MUTATOR_32)
    stages = {s.name: s for s in report.stages}
    assert stages['backbone.layers.4'].copies == [('backbone.layers.4.2', 2),
                                                  ('backbone.layers.4.5', 2)]
    assert stages['backbone.layers.5'].copies == [('backbone.layers.5.3', 3)]
    depths = [len(layer) for layer in grown.backbone.layers[1:6]]
    assert depths == [1, 3, 3, 10, 8]  # [1], [3], [3], [5 + 5], [7 + 1]
    assert not report.units  # channel_ratio 1: widths stay


def test_yolox_neck_concatenations_grow_consistently():
    from dms_det_test_utils import build_detector, flat_outputs, tiny_architecture
    base = build_detector(tiny_architecture()).eval()
    grown = copy.deepcopy(base)
    mutator = dict(type='DMSMutator', parse_cfg=dict(PARSE_32, demo_input=(1, 3, 64, 64)))
    report = expand_model(grown, channel_ratio=1.5, block_ratio=2.0, mutator=mutator)
    assert report.stages
    analysis = DMSMutator(parse_cfg=dict(PARSE_32, demo_input=(1, 3, 64, 64)))
    analysis.prepare_from_supernet(grown)
    apply_subnet(analysis, _base_subnet(analysis, report))
    pruned_back = to_static(grown, analysis).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for got, expected in zip(flat_outputs(pruned_back(x)), flat_outputs(base(x))):
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


class _ThreeConvs(torch.nn.Module):

    def __init__(self, groups=1, slice_width=None):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, groups=groups)
        self.conv3 = torch.nn.Conv2d(8, 4, 1)
        self.slice_width = slice_width

    def forward(self, x):
        y = self.conv2(self.conv1(x))
        if self.slice_width is not None:  # a fixed channel slice: follows a pruned width only
            y = y[:, :self.slice_width]
        return self.conv3(y)


def test_units_that_cannot_grow_keep_their_width_and_say_why():
    model = _ThreeConvs(groups=2)
    report = expand_model(model, channel_ratio=2.0, mutator=MUTATOR_32)
    assert not report.units
    assert set(report.kept_width.values()) == \
        {'conv2 is a grouped convolution (groups=2), so it keeps its width'}
    assert '[kept] conv1_(0, 4)_4: conv2 is a grouped convolution' in report.summary()
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 4, 28, 28)


def test_a_failed_growth_names_the_cause_and_leaves_the_model_unchanged():
    model = _ThreeConvs(slice_width=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ExpandError, match=r'fails on an input of shape \(1, 3, 32, 32\).*'
                                          'the model was left as it was'):
        expand_model(model, channel_ratio=2.0, mutator=MUTATOR_32)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before) and before.keys() == after.keys()
    assert (model.conv1.out_channels, model.conv2.out_channels) == (8, 8)


def _algorithm(**expand):
    return MODELS.build(dict(
        _scope_='mmrazor', type='DMSAlgorithm', architecture=classifier_config('resnet18'),
        mutator=MUTATOR_32, expand={**dict(channel_ratio=1.5, block_ratio=2.0), **expand},
        target_flops_ratio=0.5))


def test_search_from_a_base_checkpoint_and_retrain_rebuild(tmp_path):
    base = build_classifier('resnet18').eval()
    torch.save(dict(state_dict=base.state_dict()), tmp_path / 'base.pth')
    algorithm = _algorithm(checkpoint=str(tmp_path / 'base.pth'))
    assert algorithm.expansion is not None
    assert 'expanded x1.5 channels, x2 blocks' in algorithm.extra_repr()
    # the grown supernet holds the checkpoint's model
    searched = copy.deepcopy(algorithm)
    apply_subnet(searched.mutator, _base_subnet(searched.mutator, algorithm.expansion))
    pruned_back = to_static(searched.architecture, searched.mutator).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(pruned_back(x), base(x), rtol=1e-4, atol=1e-5)
    # the runner's init_weights() keeps the copied weights
    before = {k: v.clone() for k, v in algorithm.state_dict().items()}
    algorithm.init_weights()
    assert all(torch.equal(before[k], v) for k, v in algorithm.state_dict().items())

    # export and the retrain's rebuild grow the architecture config the same way
    randomize_structure(algorithm.mutator, seed=3)
    subnet = export_subnet(algorithm, str(tmp_path / 'out'), classifier_config('resnet18'))
    assert subnet['expand']['channel_ratio'] == 1.5
    assert subnet['expand']['stages']['backbone.layer1'] == [2, 4]
    rebuilt = MODELS.build(dict(
        _scope_='mmrazor', type='DMSSubModel', architecture=classifier_config('resnet18'),
        subnet=str(tmp_path / 'out' / 'subnet.json'),
        checkpoint=str(tmp_path / 'out' / 'pruned.pth'))).eval()
    static = to_static(algorithm.architecture, algorithm.mutator).eval()
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), static(x))

    # a subnet grown from another architecture config is named, not misapplied
    other = dict(classifier_config('resnet18'))
    other['backbone'] = dict(other['backbone'], depth=34)
    with pytest.raises(SubnetError, match='does not grow this architecture the same way'):
        MODELS.build(dict(_scope_='mmrazor', type='DMSSubModel', architecture=other,
                          subnet=str(tmp_path / 'out' / 'subnet.json')))


def test_bad_expansions_are_clear_errors(tmp_path):
    with pytest.raises(ExpandError, match=r'model.expand.channel_ratio must be a number >= 1'):
        _algorithm(channel_ratio=0.5)
    with pytest.raises(TypeError, match="model.expand: unknown key 'channel_ration'; did you "
                                        "mean 'channel_ratio'"):
        _algorithm(channel_ration=2.0)
    other = build_classifier('resnet50')
    torch.save(dict(state_dict=other.state_dict()), tmp_path / 'r50.pth')
    with pytest.raises(PrunedCheckpointError,
                       match=r'r50.pth is a checkpoint of another structure than '
                             r'model.expand.checkpoint \(ImageClassifier\)'):
        _algorithm(checkpoint=str(tmp_path / 'r50.pth'))
    with pytest.raises(ExpandError, match='model family'):
        expand_model(build_classifier('deit'), channel_ratio=2.0, mutator=MUTATOR_32)


def _expanded_subnet(channel_ratio=1.5, **expand):
    """A hand-made subnet file of a supernet grown 1.5x from a 16-channel unit."""
    return dict(format='dms_mm.subnet/1',
                units=[dict(name='backbone.conv1_(0, 24)_24', num_channels=24, kept=[0, 3])],
                stages=[dict(name='backbone.layer1', num_blocks=4, removable=[1, 2, 3],
                             kept_blocks=[0, 2])],
                expand=dict(dict(channel_ratio=channel_ratio, block_ratio=2.0,
                                 units={'backbone.conv1_(0, 24)_24': [16, 24]},
                                 stages={'backbone.layer1': [2, 4]}), **expand))


@pytest.mark.parametrize('expand,match', [
    (dict(channel_ratio='big'), r'"expand.channel_ratio" must be a number >= 1.*big'),
    (dict(channel_ratio=-2.0), r'"expand.channel_ratio" must be a number >= 1.*-2.0'),
    (dict(block_ratio=float('nan')), r'"expand.block_ratio" must be a number >= 1'),
    # absurd but positive: refused before anything grows
    (dict(channel_ratio=1e6), r'"expand.units.backbone.conv1_\(0, 24\)_24" records 16 -> 24 '
                              r'channels, but channel_ratio 1000000.0 gives 16000000'),
    (dict(units={'backbone.conv1_(0, 24)_24': [16, 32]}), r'records 16 -> 32 channels.*lists 24'),
    (dict(stages={'backbone.layer1': [2, 6]}), r'"expand.stages.backbone.layer1" must be.*\(4\)'),
])
def test_subnet_file_expansions_that_disagree_are_refused_naming_the_key(expand, match):
    load_subnet(_expanded_subnet())  # the consistent file loads
    with pytest.raises(SubnetError, match=match):
        load_subnet(_expanded_subnet(**expand))
