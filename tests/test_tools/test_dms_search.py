"""The DMS search of the digits config, run through tools/train.py as a user runs it."""
import json
import os
import subprocess

import pytest

CONFIG = 'configs/dms/efficientnet/dms_efficientnet-b0_search_digits.py'


def _scalars(work_dir):
    files = [os.path.join(root, name) for root, _, names in os.walk(work_dir)
             for name in names if name == 'scalars.json']
    assert len(files) == 1, files
    with open(files[0]) as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope='module')
def search(tmp_path_factory, repo_root, python_exe):
    work_dir = tmp_path_factory.mktemp('dms_search')
    # the shipped schedule: 12 epochs of 45 iterations; decay over iterations 0-431,
    # refine over 432-539. Validation only at the end, to save time.
    proc = subprocess.run(
        [python_exe, 'tools/train.py', CONFIG, '--work-dir', str(work_dir), '--cfg-options',
         'train_cfg.val_interval=12', 'model.target_flops_ratio=0.5',
         'default_hooks.logger.interval=5'],
        cwd=repo_root, capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    return output, _scalars(work_dir), work_dir


def test_search_logs_resource_scalars(search):
    output, scalars, _ = search
    train = [s for s in scalars if 'flops_ratio' in s]
    assert len(train) >= 100
    for key in ('flops_ratio', 'target_ratio', 'loss_resource', 'params_ratio', 'loss'):
        assert key in train[-1]
    assert train[0]['target_ratio'] > 0.95
    assert 'DMSMutator summary' in output and "phase 'refine'" in output


def test_every_search_leaves_its_pictures(search):
    _, _, work_dir = search
    for picture in ('search_curve.png', 'structure.png'):
        data = (work_dir / picture).read_bytes()
        assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 10_000
    history = json.loads((work_dir / 'search_history.json').read_text())
    assert len(history['history']['flops_ratio']) == 540
    assert sum(u['searched'] for u in history['structure']['units'].values()) == 40


def test_flops_reach_the_target_by_the_end_of_decay_and_stay_through_refine(search):
    _, scalars, _ = search
    train = [s for s in scalars if 'flops_ratio' in s]
    # the schedule decays the target from 1.0 to 0.5
    assert train[0]['flops_ratio'] > 0.8
    # The decay ends with iteration 432. Until then a block may still switch on or off
    # as its keep ratio crosses the threshold (seen at step 430: 0.475 and 0.548 in two
    # runs), which moves the FLOPs by a block's share; the refine phase freezes depth as
    # it is at iteration 432. Frozen off there, a block leaves the FLOPs below the target
    # (seen: 0.466 at step 435) until the widths make up for it, within 10 iterations
    # (0.504 at step 445).
    late = [s for s in train if s['step'] > 432]  # all of refine
    assert late
    for s in late:
        assert s['target_ratio'] == pytest.approx(0.5, abs=0.01)
        assert s['flops_ratio'] == pytest.approx(0.5, rel=0.08), s  # a block's share
        if s['step'] > 442:
            assert s['flops_ratio'] == pytest.approx(0.5, rel=0.02), s


def test_search_is_evaluated_with_hard_masks(search):
    _, scalars, _ = search
    accuracy = [s['accuracy/top1'] for s in scalars if 'accuracy/top1' in s]
    # 10 classes: chance is 10 %. With the stack installed on 2026-12-01 (numpy 2.4,
    # opencv 5.0) this 12-epoch search ends at 47-61 % on this machine, the commit before
    # included (it reached 94 % when the README's table was measured): the hard-mask
    # evaluation works, the search trains worse; see the closing note of issue 13.
    assert accuracy and accuracy[-1] > 40.0


def test_summary_tool_prints_the_search_space(repo_root, python_exe):
    proc = subprocess.run([python_exe, 'tools/dms_summary.py', CONFIG], cwd=repo_root,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert 'channel units: 40 searched, 0 left out' in out
    assert '[searched] backbone.layers.4: 6 blocks, removable [1, 2, 4, 5]' in out
    assert 'algorithm: target: flops ratio 0.5000' in out
    assert "can't find match type" not in proc.stdout + proc.stderr


def _run(cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    return proc.stdout + proc.stderr


def test_export_hook_writes_the_result_at_the_end_of_the_search(search):
    _, _, work_dir = search
    with open(work_dir / 'dms_export' / 'subnet.json') as f:
        subnet = json.load(f)
    res = subnet['resources']
    assert res['target_ratio'] == 0.5
    # the real FLOPs (mmengine's counter) of the exported model land on the target
    assert res['static_flops'] / res['counted_supernet_flops'] == pytest.approx(0.5, rel=0.02)
    assert res['static_flops'] == pytest.approx(res['soft_flops'], rel=0.01)
    assert subnet['model']['backbone']['type'] == 'EfficientNet'
    assert (work_dir / 'dms_export' / 'pruned.pth').is_file()


def test_export_tool_then_retrain_then_test(search, tmp_path, repo_root, python_exe):
    _, _, work_dir = search
    out_dir = tmp_path / 'export'
    out = _run([python_exe, 'tools/export_subnet.py', CONFIG, str(work_dir / 'epoch_12.pth'),
                '--out-dir', str(out_dir), '--divisor', '4'], repo_root)
    assert 'supernet' in out and 'static model' in out and 'soft count' in out
    subnet = json.loads((out_dir / 'subnet.json').read_text())
    widths = [len(u['kept']) for u in subnet['units'] if u['searched']]
    assert all(w % 4 == 0 or w == u['num_channels']
               for w, u in zip(widths, [u for u in subnet['units'] if u['searched']]))

    retrain = 'configs/dms/efficientnet/dms_efficientnet-b0_retrain_digits.py'
    retrain_dir = tmp_path / 'retrain'
    out = _run([python_exe, 'tools/train.py', retrain, '--work-dir', str(retrain_dir),
                '--cfg-options', f'model.subnet={out_dir}/subnet.json',
                f'model.checkpoint={out_dir}/pruned.pth', 'train_cfg.max_epochs=1',
                'train_cfg.val_interval=1'], repo_root)
    assert 'DMSSubModel: loaded the searched weights' in out
    assert 'DMSConv2d' not in out  # the retrained model is static
    out = _run([python_exe, 'tools/test.py', retrain, str(retrain_dir / 'epoch_1.pth'),
                '--work-dir', str(tmp_path / 'test'), '--cfg-options',
                f'model.subnet={out_dir}/subnet.json', 'model.checkpoint=None'], repo_root)
    top1 = float(out.split('accuracy/top1: ')[-1].split()[0])
    assert top1 > 40.0  # one retrain epoch after the search above (chance: 10 %)
