"""The EfficientNet scale-up configs: B0 grown into a larger supernet, searched down to B0."""
import pytest
from mmengine.config import Config

CONFIGS = 'configs/dms/efficientnet'


@pytest.mark.parametrize('data', ['in1k', 'digits', 'glyphs'])
def test_the_scaleup_search_grows_b0_and_targets_b0s_flops(repo_root, data, build_algorithm):
    cfg = Config.fromfile(f'{repo_root}/{CONFIGS}/dms_efficientnet-b0_scaleup_search_{data}.py')
    # the target is the base model's own FLOPs, as the mutator counts them
    base = build_algorithm(cfg, expand=None, target_flops=None, target_flops_ratio=0.5)
    assert cfg.model.target_flops == base.mutator.supernet_flops
    if data == 'digits':  # the 224x224 supernet is only counted, not searched, here
        grown = build_algorithm(cfg)
        backbone = grown.architecture.backbone
        assert [len(backbone.layers[i]) for i in range(1, 6)] == [1, 3, 3, 10, 8]
        assert grown.mutator.supernet_flops > 3 * base.mutator.supernet_flops
        assert grown.final_target_ratio == pytest.approx(0.2984, abs=1e-4)


@pytest.mark.parametrize('data', ['in1k', 'digits', 'glyphs'])
def test_the_scaleup_retrain_reads_the_scaleup_search(repo_root, data):
    cfg = Config.fromfile(f'{repo_root}/{CONFIGS}/dms_efficientnet-b0_scaleup_retrain_{data}.py')
    assert cfg.model.type == 'DMSSubModel' and cfg.custom_hooks == []
    assert f'dms_efficientnet-b0_scaleup_search_{data}/dms_export/subnet.json' in \
        cfg.model.subnet
    search = Config.fromfile(f'{repo_root}/{CONFIGS}/dms_efficientnet-b0_scaleup_search_{data}.py')
    assert cfg.model.architecture == search.model.architecture
