"""The glyphs comparison's ResNet-18 configs: supernet, search, retrain and scale-up."""
import pytest
import torch
from mmengine.config import Config

CONFIGS = 'configs/dms/resnet'


def test_the_search_runs_on_the_supernet_config(repo_root, build_algorithm):
    supernet = Config.fromfile(f'{repo_root}/configs/baselines/resnet18-w16_1xb64_glyphs.py')
    search = Config.fromfile(f'{repo_root}/{CONFIGS}/dms_resnet18-w16_search_glyphs.py')
    arch, model = search.model.architecture.to_dict(), supernet.model.to_dict()
    arch.pop('_scope_', None)
    model.pop('_scope_', None)
    assert arch == model
    assert supernet.model.backbone.base_channels == 16
    assert [h.type for h in supernet.custom_hooks] == ['mmrazor.ChannelsLastHook']
    algorithm = build_algorithm(search)
    # every width and the depth of every stage is searched; nothing is left out
    assert len(algorithm.mutator.searchable_units) == 12
    assert len(algorithm.mutator.stages) == 4
    out = algorithm(torch.rand(2, 3, 32, 32), mode='tensor')
    assert out.shape == (2, 43)


def test_the_scaleup_search_grows_the_supernet_and_targets_its_flops(repo_root, build_algorithm):
    cfg = Config.fromfile(f'{repo_root}/{CONFIGS}/dms_resnet18-w16_scaleup_search_glyphs.py')
    base = Config.fromfile(f'{repo_root}/{CONFIGS}/dms_resnet18-w16_search_glyphs.py')
    assert cfg.model.target_flops == build_algorithm(base).mutator.supernet_flops
    grown = build_algorithm(cfg)
    backbone = grown.architecture.backbone
    # 1.5x the width, 2x the blocks (3-4-6-3 against 2-2-2-2)
    assert backbone.conv1.out_channels == 24
    assert sum(len(getattr(backbone, f'layer{i}')) for i in range(1, 5)) == 16
    assert grown.final_target_ratio == pytest.approx(
        cfg.model.target_flops / grown.mutator.supernet_flops)
    assert grown.final_target_ratio < 0.5


def test_the_retrain_configs_read_their_searches(repo_root):
    for kind in ('', 'scaleup_'):
        retrain = Config.fromfile(f'{repo_root}/{CONFIGS}/dms_resnet18-w16_{kind}retrain_glyphs.py')
        search = Config.fromfile(f'{repo_root}/{CONFIGS}/dms_resnet18-w16_{kind}search_glyphs.py')
        assert retrain.model.type == 'DMSSubModel'
        # no search hooks; NHWC as the search and the supernet train
        assert [h.type for h in retrain.custom_hooks] == ['mmrazor.ChannelsLastHook']
        assert search.custom_hooks[-1].type == 'mmrazor.ChannelsLastHook'
        assert f'dms_resnet18-w16_{kind}search_glyphs/dms_export/subnet.json' in \
            retrain.model.subnet
        assert retrain.model.architecture == search.model.architecture


def test_the_latency_search_reads_a_table_measured_from_the_search_config(
        repo_root, build_algorithm, tmp_path):
    from mmengine.registry import DefaultScope

    from dms_mm.resources import LatencyTable
    from dms_test_utils import growing_latency_table
    from tools import measure_latency
    table = tmp_path / 'latency.json'
    with DefaultScope.overwrite_default_scope('mmrazor'):
        measure_latency.main([f'{repo_root}/{CONFIGS}/dms_resnet18-w16_search_glyphs.py',
                              '--out', str(table), '--batch', '16', '--steps', '3', '--iters',
                              '1', '--warmup', '0', '--threads', '1', '--calibration'])
    # timings that grow with the widths: one run a point on a busy machine need not
    growing_latency_table(LatencyTable.load(str(table))).save(str(table))
    cfg = Config.fromfile(f'{repo_root}/{CONFIGS}/dms_resnet18-w16_search_glyphs_latency.py')
    assert cfg.model.target_flops_ratio is None
    assert cfg.model.latency_table == 'work_dirs/latency/resnet18-w16_glyphs_cpu.json'
    algorithm = build_algorithm(cfg, latency_table=str(table))
    assert (algorithm.target_kind, algorithm.final_target_ratio) == ('latency', 0.5)
    assert algorithm.mutator.supernet_latency > 0
    with pytest.raises(FileNotFoundError, match='measure_latency'):  # the first step skipped
        build_algorithm(cfg, latency_table=str(tmp_path / 'missing.json'))
