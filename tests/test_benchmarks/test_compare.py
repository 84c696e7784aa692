"""benchmarks/compare.py: the baselines' structures, the records and the verdict."""
import json
import os
import os.path as osp

import pytest

from benchmarks import compare
from benchmarks.subnets import random_subnet, uniform_subnet

SEARCH = 'configs/dms/efficientnet/dms_efficientnet-b0_search_glyphs.py'


def _ratio(subnet):
    res = subnet['resources']
    return res['static_flops'] / res['counted_supernet_flops']


def test_uniform_scales_every_width_and_stage_alike(repo_root, tmp_path):
    subnet = uniform_subnet(osp.join(repo_root, SEARCH), 0.3, str(tmp_path))
    assert json.loads((tmp_path / 'subnet.json').read_text())['format'] == 'dms_mm.subnet/1'
    assert _ratio(subnet) == pytest.approx(0.3, abs=0.01)
    keep = subnet['resources']['method']['keep_ratio']
    for unit in subnet['units']:
        # the first channels are kept, the same fraction everywhere
        n = len(unit['kept'])
        assert unit['kept'] == list(range(n))
        assert n == pytest.approx(keep * unit['num_channels'], abs=1)


def test_uniform_lands_on_the_target_with_one_width_and_one_depth_ratio(repo_root, tmp_path):
    # one common factor stopped at 0.2435 here (all units of a width move at once)
    subnet = uniform_subnet(osp.join(repo_root, compare.SUPERNETS['resnet18']['search']), 0.25,
                            str(tmp_path))
    assert 0.2475 <= _ratio(subnet) <= 0.25
    method = subnet['resources']['method']
    assert len(set(method['depth_ratio'])) == 1
    for unit in subnet['units']:
        assert len(unit['kept']) == pytest.approx(method['keep_ratio'] * unit['num_channels'],
                                                  abs=1)


def test_random_structures_differ_by_seed_at_the_same_flops(repo_root, tmp_path):
    first = random_subnet(osp.join(repo_root, SEARCH), 0.5, 0, str(tmp_path / 'a'))
    second = random_subnet(osp.join(repo_root, SEARCH), 0.5, 1, str(tmp_path / 'b'))
    uniform = uniform_subnet(osp.join(repo_root, SEARCH), 0.5, str(tmp_path / 'u'))
    for subnet in (first, second, uniform):
        assert _ratio(subnet) == pytest.approx(0.5, abs=0.01)
    widths = [[len(u['kept']) / u['num_channels'] for u in s['units']]
              for s in (first, second, uniform)]
    assert widths[0] != widths[1] and widths[0] != widths[2]
    # random kept channels, not the first ones
    assert any(u['kept'] != list(range(len(u['kept']))) for u in first['units'])
    again = random_subnet(osp.join(repo_root, SEARCH), 0.5, 0, str(tmp_path / 'c'))
    assert again['units'] == first['units'] and again['stages'] == first['stages']


def test_a_random_structure_lands_on_the_target_where_the_common_factor_stops_short(
        repo_root, tmp_path):
    # seed 3 at 0.25: one factor for every keep ratio stopped at 0.207 (a block switches)
    subnet = random_subnet(osp.join(repo_root, compare.SUPERNETS['resnet18']['search']), 0.25,
                           3, str(tmp_path))
    assert 0.245 <= _ratio(subnet) <= 0.25


def _record(comparison, method, target, seed, top1, ratio=0.5):
    comparison.record(f'{method}|{target}|{seed}', method=method, target=target, seed=seed,
                      top1=top1, flops=ratio * 1e7, params=1e6, flops_ratio=ratio,
                      supernet_flops=1e7, seconds=60.0, widths=[[8, 16], [4, 8]],
                      blocks=[[1, 2]])


def test_report_gives_paired_differences_and_says_who_wins(tmp_path):
    comparison = compare.Comparison(str(tmp_path), epochs=4, train_images=100)
    for seed, (dms, uniform, tp) in enumerate([(70.0, 68.0, 71.0), (71.0, 68.5, 70.0),
                                               (70.5, 69.0, 70.5)]):
        _record(comparison, 'dms', 0.5, seed, dms)
        _record(comparison, 'uniform', 0.5, seed, uniform)
        _record(comparison, 'tp', 0.5, seed, tp)
    comparison.record('tp|0.5|3', method='tp', target=0.5, seed=3, failed='boom',
                      seconds=1.0)
    text = compare.report(comparison, ['uniform', 'dms', 'tp'], [0.5], [0, 1, 2, 3], 'cmd')
    assert '| Uniform scaling | 0.5 | 0.500 | 1.000 | 68.50 ± 0.50 | 3 | +2.00 ± 0.50 ' \
           '(+2.00, +2.50, +1.50) | 1.0 |' in text
    assert 'At 0.5: DMS wins against Uniform scaling: +2.00 ± 0.50 points' in text
    assert 'At 0.5: DMS ties with Torch-Pruning' in text
    assert 'Runs that failed' in text and 'boom' in text
    assert '- DMS from scratch (DMSnp) at 0.5 (seed 0): channels 8/16 4/8; blocks 1/2' in text
    assert osp.isfile(tmp_path / 'compare.png')
    # the records survive: a second comparison in the same folder skips them
    again = compare.Comparison(str(tmp_path), epochs=4, train_images=100)
    assert again.run('dms', 0.5, 1)['top1'] == 71.0


def test_a_run_that_failed_is_tried_again_by_the_next_call_only(tmp_path, monkeypatch):
    attempts = []

    def run_uniform(self, work, target, seed):
        attempts.append(seed)
        if len(attempts) == 1:
            raise compare.RunFailed('killed by the machine')
        return dict(top1=80.0, flops_ratio=target)

    monkeypatch.setattr(compare.Comparison, '_run_uniform', run_uniform)
    first = compare.Comparison(str(tmp_path), epochs=4, train_images=100)
    assert 'killed by the machine' in first.run('uniform', 0.5, 0)['failed']
    # within one call the failure stands (a run that needs it does not start it again)
    assert 'failed' in first.run('uniform', 0.5, 0) and attempts == [0]
    second = compare.Comparison(str(tmp_path), epochs=4, train_images=100)
    assert second.run('uniform', 0.5, 0)['top1'] == 80.0 and attempts == [0, 0]
    third = compare.Comparison(str(tmp_path), epochs=4, train_images=100)
    assert third.run('uniform', 0.5, 0)['top1'] == 80.0 and attempts == [0, 0]


def test_parallel_runs_train_a_seeds_supernet_once_and_record_every_run(tmp_path,
                                                                          monkeypatch):
    """--jobs 2: Torch-Pruning at two targets of one seed start together; both
    need the seed's trained supernet, which is trained once."""
    import threading
    import time

    trained = []

    def train(self, config, work_dir, epochs, seed, opts, validate=True):
        assert not validate  # the supernet's accuracy is not reported: no test pass
        trained.append((threading.get_ident(), work_dir))
        time.sleep(0.2)
        os.makedirs(work_dir, exist_ok=True)
        open(osp.join(work_dir, f'epoch_{epochs}.pth'), 'w').close()
        return ''

    def run_pruner(self, work, target, seed, prune, *args):
        self.supernet_checkpoint(seed)
        return dict(top1=60.0 + target, flops_ratio=target)

    monkeypatch.setattr(compare.Comparison, 'train', train)
    monkeypatch.setattr(compare.Comparison, '_run_pruner', run_pruner)
    monkeypatch.setattr(compare, 'report', lambda *args: 'the report')
    compare.main(['--methods', 'tp', 'mmrazor', '--targets', '0.5', '0.25', '--seeds', '0',
                  '--jobs', '2', '--work-dir', str(tmp_path)])
    assert [work for _, work in trained] == [str(tmp_path / 'pretrained_seed0')]
    records = [json.loads(line) for line in open(tmp_path / 'runs.jsonl')]
    assert sorted(r['key'] for r in records) == ['mmrazor|0.25|0', 'mmrazor|0.5|0',
                                                 'tp|0.25|0', 'tp|0.5|0']


def test_the_dms_structure_from_scratch_retrains_the_dms_export_once_searched(
        tmp_path, monkeypatch):
    """dmsstruct and dms of one seed start together (--jobs 2): the search runs
    once, and its export is retrained from scratch for the whole budget."""
    import time

    calls = []

    def train(self, config, work_dir, epochs, seed, opts, validate=True):
        calls.append((osp.relpath(work_dir, tmp_path), epochs, opts, validate))
        time.sleep(0.2)
        return 'Epoch(val) [1][1/1]  accuracy/top1: 80.0000'

    monkeypatch.setattr(compare.Comparison, 'train', train)
    monkeypatch.setattr(compare.Comparison, 'structure_fields',
                        staticmethod(lambda subnet_dir: dict(flops_ratio=0.25)))
    monkeypatch.setattr(compare, 'report', lambda *args: 'the report')
    compare.main(['--methods', 'dms', 'dmsstruct', '--targets', '0.25', '--seeds', '0',
                  '--jobs', '2', '--work-dir', str(tmp_path)])
    runs = [(work, epochs, validate) for work, epochs, _, validate in calls]
    # the search is not tested (its accuracy is not reported), the trainings are
    assert sorted(runs) == [('dms_t0.25_seed0/retrain', 2, True),
                            ('dms_t0.25_seed0/search', 2, False),
                            ('dmsstruct_t0.25_seed0/train', 4, True)]
    opts = dict(o.split('=', 1) for o in calls[-1][2])
    assert opts['model.subnet'] == f'{tmp_path}/dms_t0.25_seed0/search/dms_export/subnet.json'
    assert opts['model.checkpoint'] == 'None' and opts['model.reset_params'] == 'True'


@pytest.mark.parametrize('method,source,folder', [('tpstruct', 'tp', 'structure'),
                                                   ('mmrazorstruct', 'mmrazor', 'structure')])
def test_a_peers_structure_from_scratch_trains_its_export_for_the_whole_budget(
        tmp_path, monkeypatch, method, source, folder):
    calls = []

    def train(self, config, work_dir, epochs, seed, opts):
        calls.append((osp.relpath(work_dir, tmp_path), epochs, opts))
        return 'Epoch(val) [1][1/1]  accuracy/top1: 80.0000'

    comparison = compare.Comparison(str(tmp_path), epochs=4, train_images=100)
    monkeypatch.setattr(compare.Comparison, 'train', train)
    monkeypatch.setattr(compare.Comparison, 'structure_fields',
                        staticmethod(lambda subnet_dir: dict(flops_ratio=0.25)))
    comparison.record(f'{source}|0.25|0', method=source, target=0.25, seed=0, top1=90.0)
    assert comparison.run(method, 0.25, 0)['top1'] == 80.0
    (work, epochs, opts), = calls
    assert (work, epochs) == (f'{method}_t0.25_seed0/train', 4)
    assert f'model.subnet={tmp_path}/{source}_t0.25_seed0/{folder}/subnet.json' in opts

    def boom(self, work, target, seed):
        raise compare.RunFailed('boom')

    monkeypatch.setattr(compare.Comparison, f'_run_{source}', boom)
    assert 'boom' in comparison.run(method, 0.5, 0)['failed']
    assert len(calls) == 1


def _train_after_a_supernet(note):
    """A stand-in for ``Comparison.train``: the seed's supernet is an empty
    checkpoint; every other run is noted and reports 90 % top-1."""

    def train(self, config, work_dir, epochs, seed, opts, iterations=None, validate=True):
        if work_dir.endswith('pretrained_seed0'):
            os.makedirs(work_dir, exist_ok=True)
            open(osp.join(work_dir, f'epoch_{epochs}.pth'), 'w').close()
            return ''
        note(work_dir, epochs, opts, iterations)
        return 'Iter(val) [32/32]  accuracy/top1: 90.0000'

    return train


@pytest.mark.parametrize('method,iterations', [('mmrazor', 2 * 313 - 200),
                                               ('mmrazor-long', None)])
def test_a_pruner_that_trains_while_it_prunes_finetunes_that_much_less(
        tmp_path, monkeypatch, method, iterations):
    """GroupFisher's 200 training iterations come out of its finetune of E/2
    epochs (313 iterations each over 20,000 images at batch 64); mmrazor-long
    keeps the whole finetune."""
    calls = []

    train = _train_after_a_supernet(lambda work_dir, epochs, opts, iterations: calls.append(
        (osp.relpath(work_dir, tmp_path), epochs, iterations)))

    def prune(out_dir, checkpoint):
        os.makedirs(out_dir)
        with open(osp.join(out_dir, 'subnet.json'), 'w') as f:
            json.dump(dict(resources=dict(method=dict(iterations=200))), f)

    monkeypatch.setattr(compare.Comparison, 'train', train)
    monkeypatch.setattr(compare.Comparison, 'structure_fields',
                        staticmethod(lambda subnet_dir: dict(flops_ratio=0.25)))
    comparison = compare.Comparison(str(tmp_path), epochs=4, train_images=20000)
    record = comparison._run_pruner(str(tmp_path / method), 0.25, 0, prune,
                                    method == 'mmrazor')
    assert calls == [(f'{method}/finetune', 2, iterations)]
    assert record['top1'] == 90.0 and record['pruning_iterations'] == 200
    assert record['finetune_iterations'] == (iterations or 2 * 313)


def test_dmsp_short_searches_on_groupfishers_schedule(tmp_path, monkeypatch):
    """dmsp-short: the trained supernet searched 200 iterations at a tenth of
    the finetune rate, then finetuned for the rest of E/2 epochs."""
    calls = []

    train = _train_after_a_supernet(lambda work_dir, epochs, opts, iterations: calls.append(
        (osp.relpath(work_dir, tmp_path), iterations, opts)))

    monkeypatch.setattr(compare.Comparison, 'train', train)
    monkeypatch.setattr(compare.Comparison, 'structure_fields',
                        staticmethod(lambda subnet_dir: dict(flops_ratio=0.25)))
    comparison = compare.Comparison(str(tmp_path), epochs=4, train_images=20000,
                                    finetune_lr=0.3)
    assert comparison.run('dmsp-short', 0.25, 0)['top1'] == 90.0
    (search, search_iters, search_opts), (retrain, retrain_iters, retrain_opts) = calls
    assert (search, search_iters) == ('dmsp-short_t0.25_seed0/search', 200)
    assert (retrain, retrain_iters) == ('dmsp-short_t0.25_seed0/retrain', 2 * 313 - 200)
    assert 'optim_wrapper.optimizer.lr=0.03' in search_opts
    assert f'model.architecture.init_cfg.checkpoint={tmp_path}/pretrained_seed0/epoch_2.pth' \
        in search_opts
    assert 'optim_wrapper.optimizer.lr=0.3' in retrain_opts


def test_an_iteration_budget_ends_the_schedule_where_the_training_ends(repo_root, tmp_path):
    from mmengine.config import Config
    path = compare.iteration_config(
        osp.join(repo_root, 'configs/dms/resnet/dms_resnet18-w16_retrain_glyphs.py'), 426,
        str(tmp_path / 'run' / 'config.py'))  # a run's folder that is not made yet
    cfg = Config.fromfile(path)
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=426, val_interval=426,
                                 val_begin=426)
    quiet = Config.fromfile(compare.iteration_config(
        osp.join(repo_root, 'configs/dms/resnet/dms_resnet18-w16_retrain_glyphs.py'), 426,
        str(tmp_path / 'quiet.py'), validate=False))
    assert quiet.train_cfg.val_begin == 427  # never reached: no test pass
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.by_epoch, warmup.end) == ('LinearLR', False, 100)
    assert (cosine.type, cosine.by_epoch, cosine.begin, cosine.end) == (
        'CosineAnnealingLR', False, 0, 426)
    assert 'convert_to_iter_based' not in cosine and cfg.log_processor.by_epoch is False
    assert compare.last_top1('Iter(val) [32/32]    accuracy/top1: 58.6000  data_time: 0.02') == 58.6
    fixed = tmp_path / 'fixed.py'
    fixed.write_text(f"_base_ = ['{path}']\nparam_scheduler = [dict(type='StepLR', "
                     "by_epoch=True, begin=0, end=2, step_size=1)]\n")
    with pytest.raises(ValueError, match='begin or end'):
        compare.iteration_config(str(fixed), 10, str(tmp_path / 'out.py'))


def test_report_only_reports_the_recorded_runs_and_starts_none(tmp_path, monkeypatch):
    comparison = compare.Comparison(str(tmp_path), epochs=4, train_images=20000,
                                    finetune_lr=compare.PRESETS['demo']['finetune_lr'],
                                    precision=compare.auto_precision())
    target, = compare.PRESETS['demo']['targets']  # the demo's one target: 0.1
    _record(comparison, 'dmsp', target, 0, 80.0, ratio=target)  # the demo's DMS row
    _record(comparison, 'uniform', target, 0, 78.0, ratio=target)
    _record(comparison, 'uniform', 0.25, 0, 85.0)  # another target: not the demo's

    def no_run(*args):
        raise AssertionError('a run was started')

    monkeypatch.setattr(compare.Comparison, 'run', no_run)
    text = compare.main(['--preset', 'demo', '--report-only', '--work-dir', str(tmp_path)])
    assert f'| Uniform scaling | {target} | 0.100 | 1.000 | 78.00 ± 0.00 | 1 | +2.00 ' in text
    assert '85.00' not in text
    assert 'Torch-Pruning' not in text.split('### Structures')[0]  # not run, not shown
    assert f'At {target}: DMSp ' in text and 'paired Δ, DMSp minus it' in text


def test_capacity_checks_at_two_targets_share_a_folder(tmp_path):
    for seed, top1 in enumerate((90.0, 91.0)):
        comparison = compare.Comparison(str(tmp_path), epochs=4, train_images=100)
        _record(comparison, 'supernet', None, seed, top1 + 5.5, ratio=1.0)
        _record(comparison, 'capacity', 0.125, seed, top1, ratio=0.125)
        _record(comparison, 'capacity', 0.1, seed, top1 - 1.0, ratio=0.1)
    for target, gap in ((0.125, '+5.50'), (0.1, '+6.50')):
        comparison = compare.Comparison(str(tmp_path), epochs=4, train_images=100,
                                        capacity_target=target)
        text = compare.report(comparison, ['supernet', 'capacity'], [0.25], [0, 1], 'cmd')
        assert f'| Uniform (capacity check) | {target} | {target:.3f} |' in text
        assert f'uniform scaling to {target} of its FLOPs by {gap} points' in text


def test_budget_must_split_into_the_phases(tmp_path):
    with pytest.raises(ValueError, match='multiple of 4'):
        compare.Comparison(str(tmp_path), epochs=6, train_images=100)


def test_records_of_other_settings_are_never_mixed_in(tmp_path):
    compare.Comparison(str(tmp_path), epochs=4, train_images=100)
    with pytest.raises(ValueError, match=r"other settings.*'epochs': \(4, 8\)"):
        compare.Comparison(str(tmp_path), epochs=8, train_images=100)
    with pytest.raises(ValueError, match='supernet'):
        compare.Comparison(str(tmp_path), epochs=4, train_images=100,
                           supernet='efficientnet-b0')
    with pytest.raises(ValueError, match="unknown supernet 'vgg'"):
        compare.Comparison(str(tmp_path / 'other'), epochs=4, train_images=100, supernet='vgg')


def test_runs_of_another_recipe_are_other_settings(tmp_path, monkeypatch):
    comparison = compare.Comparison(str(tmp_path), epochs=4, train_images=100)
    recipe = comparison.recipe()
    # the DMSnp retrain trains as the supernet does, annealed within every run
    assert recipe['supernet'] == recipe['retrain']
    assert recipe['supernet']['optimizer']['lr'] > 0
    assert recipe['supernet']['param_scheduler'][-1]['convert_to_iter_based']
    slower = json.loads(json.dumps(recipe))
    slower['supernet']['optimizer']['lr'] /= 3
    in_bfloat16 = json.loads(json.dumps(recipe))
    in_bfloat16['retrain']['wrapper'] = ['AmpOptimWrapper', 'bfloat16']
    for other in (slower, in_bfloat16):
        monkeypatch.setattr(compare.Comparison, 'recipe', lambda self, other=other: other)
        with pytest.raises(ValueError, match=r"other settings.*'recipe'"):
            compare.Comparison(str(tmp_path), epochs=4, train_images=100)


def test_bfloat16_runs_train_in_autocast_and_are_other_settings(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(compare, 'run_tool', lambda args, log, threads: calls.append(args))
    for precision in compare.PRECISIONS:
        comparison = compare.Comparison(str(tmp_path / precision), epochs=4, train_images=100,
                                        precision=precision)
        comparison.train('configs/x.py', str(tmp_path / 'run'), 2, 0, ['model.a=1'])
    float32, bfloat16 = calls
    amp = ['optim_wrapper.type=AmpOptimWrapper', 'optim_wrapper.dtype=bfloat16']
    assert not set(amp) & set(float32)
    assert bfloat16 == float32[:-1] + amp + ['model.a=1']
    with pytest.raises(ValueError, match=r"other settings.*'precision': \('float32', "
                       r"'bfloat16'\)"):
        compare.Comparison(str(tmp_path / 'float32'), epochs=4, train_images=100,
                           precision='bfloat16')
    with pytest.raises(ValueError, match="precision must be one of"):
        compare.Comparison(str(tmp_path / 'other'), epochs=4, train_images=100,
                           precision='float16')


@pytest.mark.parametrize('flags,precision', [('fpu avx512f amx_bf16 amx_tile', 'bfloat16'),
                                             ('fpu avx512f avx512_bf16', 'bfloat16'),
                                             ('fpu avx2 avx512f', 'float32')])
def test_auto_precision_takes_bfloat16_where_the_cpu_has_it(tmp_path, monkeypatch, flags,
                                                             precision):
    import torch
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cpuinfo = tmp_path / 'cpuinfo'
    cpuinfo.write_text(f'processor\t: 0\nflags\t\t: {flags}\n')
    assert compare.auto_precision(str(cpuinfo)) == precision
    assert compare.auto_precision(str(tmp_path / 'missing')) == 'float32'


@pytest.mark.parametrize('supernet', sorted(compare.SUPERNETS))
def test_every_supernet_names_configs_that_exist(repo_root, supernet):
    for key, path in compare.SUPERNETS[supernet].items():
        if key != 'name':
            assert osp.isfile(osp.join(repo_root, path)), path


@pytest.mark.parametrize('name', sorted(compare.ABLATIONS))
def test_every_ablation_changes_a_setting_the_search_has(repo_root, name):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(repo_root, compare.SUPERNETS['resnet18']['search']))
    assert cfg.custom_hooks[0].type == 'mmrazor.DMSSchedulerHook'
    # settings the configs leave at their defaults (DMSSchedulerHook, DMSChannelUnit)
    defaults = dict(pretrain_ratio=0.0, schedule='root', ema_decay=0.99)
    _, options, *split = compare.ABLATIONS[name]
    assert options or split  # a variant changes the search or the budget split
    for option in options:
        key, value = option.split('=')
        node = cfg
        for part in key.split('.')[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = key.split('.')[-1]
        # the setting exists (or is left at its default), and the option changes it
        assert last in node or last in defaults, key
        assert str(node.get(last, defaults.get(last))) != value, key


def test_runs_that_train_only_a_pruned_model_go_last_at_a_jobs_share_of_threads(
        tmp_path, monkeypatch):
    """One job: the runs start in order, those training the pruned model alone
    (uniform, random) after those that train the supernet; what runs in this
    process gets the job's threads, and the default comes back afterwards."""
    import torch
    started = []

    def run(self, method, target, seed):
        started.append((method, seed, torch.get_num_threads()))
        return self.record(f'{method}|{target}|{seed}', method=method, target=target,
                           seed=seed, top1=50.0, flops_ratio=target, seconds=1.0)

    def supernet_checkpoint(self, seed, train=True):
        if train:  # Torch-Pruning's trained supernet: a job of its own, first
            started.append(('pretrained', seed, torch.get_num_threads()))
        return str(tmp_path / f'none_{seed}.pth')

    monkeypatch.setattr(compare.Comparison, 'run', run)
    monkeypatch.setattr(compare.Comparison, 'supernet_checkpoint', supernet_checkpoint)
    monkeypatch.setattr(compare, 'report', lambda *args: 'the report')
    before = torch.get_num_threads()
    compare.main(['--methods', 'uniform', 'dms', 'random', 'tp', '--targets', '0.25',
                  '--seeds', '0', '1', '--jobs', '1', '--work-dir', str(tmp_path)])
    assert [(m, s) for m, s, _ in started] == [('pretrained', 0), ('pretrained', 1),
                                               ('dms', 0), ('tp', 0), ('dms', 1), ('tp', 1),
                                               ('uniform', 0), ('random', 0),
                                               ('uniform', 1), ('random', 1)]
    assert {threads for _, _, threads in started} == {os.cpu_count()}
    assert torch.get_num_threads() == before
    # two comparisons side by side, one run and one thread each
    started.clear()
    compare.main(['--methods', 'uniform', '--targets', '0.5', '--seeds', '0', '--jobs', '1',
                  '--threads', '1', '--work-dir', str(tmp_path)])
    assert started == [('uniform', 0, 1)] and torch.get_num_threads() == before
    # Torch-Pruning's runs recorded: no supernet is trained for them again
    started.clear()
    compare.main(['--methods', 'tp', '--targets', '0.25', '--seeds', '0', '1', '--jobs', '1',
                  '--work-dir', str(tmp_path)])
    assert [m for m, _, _ in started] == ['tp', 'tp']
