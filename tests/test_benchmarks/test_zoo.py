"""benchmarks/zoo.py: a backbone's row says what is searched, whether the
export is exact, and why not where it is not; Torch-Pruning's pruner beside."""
from benchmarks.zoo import exact, main


def test_rows_say_what_is_searched_and_why_not(tmp_path):
    rows = main(['--models', 'ResNet', 'ConvNeXt', '--work-dir', str(tmp_path)])
    resnet, convnext = rows
    assert exact(resnet) and resnet['units'] == 12 and resnet['stages'] == 4
    assert resnet['relative_difference'] <= 1e-4 and resnet['lowest_flops_ratio'] < 0.05
    # ConvNeXt's layer scales are bare parameters: its streams are left out, named
    assert exact(convnext) and len(convnext['left_out']) == 5
    text = (tmp_path / 'zoo.md').read_text()
    assert text.startswith('2 of 2 backbones searched and exported exactly')
    assert '| ConvNeXt | 64 | 12 / 5 |' in text and 'backbone.stages.0.0.gamma' in text
    # Torch-Pruning prunes ResNet-18 into a model that runs, with fewer FLOPs
    assert resnet['tp_status'] == 'ok' and resnet['tp_flops_ratio'] < 0.5
    assert 'Torch-Pruning (DepGraph, L2, 0.5 of each group, one shot) pruned' in text
