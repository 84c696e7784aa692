"""tools/train.py, tools/test.py and the launch scripts, run as a user runs them."""
import os
import os.path as osp
import re
import subprocess

import pytest
import torch

import dms_mm  # noqa: F401  (allow-lists the types of mmengine checkpoints)
from dms_test_utils import free_port

CONFIG = 'configs/baselines/efficientnet-b0_1xb32_digits.py'
# 64 training images (2 iterations an epoch) and 64 test images keep it fast.
TINY = [
    'train_dataloader.dataset.indices=64',
    'val_dataloader.dataset.indices=64',
    'test_dataloader.dataset.indices=64',
    'default_hooks.logger.interval=1',
]


def _run(cmd, cwd, env=None, timeout=600):
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd)} failed:\n{output[-6000:]}'
    return output


@pytest.fixture(scope='module')
def trained(tmp_path_factory, repo_root, python_exe):
    """Two epochs of the tiny config, then a resume to a third."""
    work_dir = tmp_path_factory.mktemp('train')
    first = _run([python_exe, 'tools/train.py', CONFIG, '--work-dir', str(work_dir),
                  '--cfg-options', 'train_cfg.max_epochs=2', *TINY], cwd=repo_root)
    resumed = _run([python_exe, 'tools/train.py', CONFIG, '--work-dir', str(work_dir),
                    '--resume', '--cfg-options', 'train_cfg.max_epochs=3', *TINY],
                   cwd=repo_root)
    return work_dir, first, resumed


def test_train_saves_checkpoints_and_evaluates(trained):
    work_dir, first, _ = trained
    assert (work_dir / 'epoch_2.pth').is_file()
    assert re.search(r'Epoch\(val\) \[2\]\[\d+/\d+\]\s+accuracy/top1: [\d.]+', first)


def test_resume_restores_epoch_and_continues(trained):
    work_dir, _, resumed = trained
    assert 'resumed epoch: 2, iter: 4' in resumed
    assert 'Epoch(train) [1]' not in resumed
    assert 'Epoch(train) [3]' in resumed
    assert (work_dir / 'epoch_3.pth').is_file()
    ckpt = torch.load(work_dir / 'epoch_3.pth', map_location='cpu')  # weights_only
    assert ckpt['meta']['epoch'] == 3 and ckpt['meta']['iter'] == 6
    assert 'message_hub' in ckpt and 'optimizer' in ckpt


def test_resume_from_explicit_checkpoint(trained, tmp_path, repo_root, python_exe):
    work_dir, _, _ = trained
    out = _run([python_exe, 'tools/train.py', CONFIG, '--work-dir', str(tmp_path),
                '--resume', str(work_dir / 'epoch_2.pth'),
                '--cfg-options', 'train_cfg.max_epochs=3', *TINY], cwd=repo_root)
    assert 'resumed epoch: 2, iter: 4' in out
    assert (tmp_path / 'epoch_3.pth').is_file()


def test_test_tool_evaluates_checkpoint(trained, tmp_path, repo_root, python_exe):
    work_dir, _, _ = trained
    dump = tmp_path / 'preds.pkl'
    out = _run([python_exe, 'tools/test.py', CONFIG, str(work_dir / 'epoch_3.pth'),
                '--work-dir', str(tmp_path), '--out', str(dump),
                '--cfg-options', *TINY], cwd=repo_root)
    assert re.search(r'Epoch\(test\) \[\d+/\d+\]\s+accuracy/top1: [\d.]+', out)
    assert dump.is_file()


def test_dist_train_two_cpu_processes(tmp_path, repo_root, python_exe):
    out = _run(['bash', 'tools/dist_train.sh', CONFIG, '2', '--work-dir', str(tmp_path),
                '--cfg-options', 'train_cfg.max_epochs=1', *TINY],
               cwd=repo_root, env=dict(PYTHON=python_exe, PORT=str(free_port()),
                                      OMP_NUM_THREADS='1'))
    assert "switched from 'nccl' to 'gloo'" in out
    assert re.search(r'Distributed launcher: pytorch', out)
    assert 'GPU number: 2' in out  # mmengine's name for the world size
    # 64 images over 2 ranks at batch 32: one iteration an epoch
    assert 'Epoch(train) [1][1/1]' in out
    assert (tmp_path / 'epoch_1.pth').is_file()
    # the ranks leave with os._exit after the exit handlers: the log file is complete
    log_file, = tmp_path.glob('*/*.log')
    assert 'Epoch(val) [1][1/1]' in log_file.read_text()


def test_amp_and_auto_scale_lr_flags(tmp_path, repo_root, python_exe):
    out = _run([python_exe, 'tools/train.py', CONFIG, '--work-dir', str(tmp_path), '--amp',
                '--auto-scale-lr', '--no-validate',
                '--cfg-options', 'train_cfg.max_epochs=1', 'train_dataloader.batch_size=16',
                *TINY], cwd=repo_root)
    assert 'AmpOptimWrapper' in out
    assert 'Scaling the original LR by 0.5' in out
    assert 'Epoch(val)' not in out


@pytest.mark.parametrize('script,args,expected', [
    ('tools/dist_train.sh', ['cfg.py', '8'],
     ['--nnodes=2', '--node_rank=1', '--master_addr=10.1.2.3', '--master_port=29999',
      '--nproc_per_node=8', 'train.py cfg.py --launcher pytorch --amp']),
    ('tools/dist_test.sh', ['cfg.py', 'ckpt.pth', '8'],
     ['--nnodes=2', '--node_rank=1', 'test.py cfg.py ckpt.pth --launcher pytorch --amp']),
    ('tools/slurm_train.sh', ['part', 'job', 'cfg.py', 'work_dirs/x'],
     ['srun -p part --job-name=job', '--ntasks=8', '--gres=gpu:8',
      'train.py cfg.py --work-dir work_dirs/x --launcher slurm --amp']),
    ('tools/slurm_test.sh', ['part', 'job', 'cfg.py', 'ckpt.pth'],
     ['srun -p part', 'test.py cfg.py ckpt.pth --launcher slurm --amp']),
])
def test_launch_scripts_dry_run(script, args, expected, repo_root):
    env = dict(os.environ, DMS_DRY_RUN='1', NNODES='2', NODE_RANK='1',
               MASTER_ADDR='10.1.2.3', PORT='29999')
    proc = subprocess.run(['bash', script, *args, '--amp'], cwd=repo_root, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.replace(osp.join(repo_root, 'tools') + '/', '')
    for piece in expected:
        assert piece in line, (piece, line)


def test_launch_scripts_usage_errors(repo_root):
    proc = subprocess.run(['bash', 'tools/dist_train.sh', 'cfg.py'], cwd=repo_root,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and 'usage:' in proc.stderr
