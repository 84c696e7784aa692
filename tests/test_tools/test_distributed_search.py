"""A DMS search under DDP, as a user launches it: 2 CPU processes through
tools/slurm_train.sh (with a stand-in ``srun`` that starts the tasks the way
Slurm does) and SyncBN in the model config; 3 CPU processes through
tools/dist_train.sh with the runner's ``sync_bn='torch'``. Both on gloo, with
mmengine's default MMDistributedDataParallel and find_unused_parameters=False,
through the decay and the refine phase (depth frozen).

Every rank writes its keep ratios, importance and hard masks at every logged
iteration, and its subnet at the end; all ranks must agree, and agree with
the exported subnet.json.
"""
import json
import os
import stat

import pytest
import torch

from dms_search_runs import config_with_hooks, run, search_options, subnet
from dms_test_utils import free_port

EPOCHS = 5  # 64 images over the ranks in batches of 16: 2 iterations an epoch
ITERATIONS = 2 * EPOCHS

# srun as far as slurm_train.sh uses it: one process per task, each with the
# variables mmengine's slurm launcher reads.
FAKE_SRUN = r'''#!/usr/bin/env bash
ntasks=1
while [ $# -gt 0 ]; do
  case "$1" in
    --ntasks=*) ntasks=${1#--ntasks=}; shift ;;
    -p) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
pids=()
for ((i = 0; i < ntasks; i++)); do
  SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_NTASKS=$ntasks SLURM_NODELIST=localhost "$@" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit $status
'''


def _config(work_dir, repo_root):
    return config_with_hooks(
        work_dir / 'search.py', repo_root,
        [f"dict(type='RankStateDumpHook', out_dir={str(work_dir / 'ranks')!r})"])


def _options():
    # the structure is compared across ranks by the scheduler hook every iteration too
    return search_options(EPOCHS) + ['custom_hooks.0.sync_check_interval=1']


@pytest.fixture(scope='module')
def slurm_two_ranks(tmp_path_factory, repo_root, python_exe):
    work_dir = tmp_path_factory.mktemp('slurm_2')
    bin_dir = work_dir / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    _, output = run(
        ['bash', 'tools/slurm_train.sh', 'cpu', 'dms', _config(work_dir, repo_root),
         str(work_dir), '--cfg-options', *_options(),
         'model.architecture.backbone.norm_cfg.type=SyncBN'],
        cwd=repo_root, PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}', PYTHON=python_exe,
        GPUS='2', GPUS_PER_NODE='2', CPUS_PER_TASK='1', MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(free_port()))
    return work_dir, output, 2


@pytest.fixture(scope='module')
def torchrun_three_ranks(tmp_path_factory, repo_root, python_exe):
    work_dir = tmp_path_factory.mktemp('dist_3')
    _, output = run(
        ['bash', 'tools/dist_train.sh', _config(work_dir, repo_root), '3', '--work-dir',
         str(work_dir), '--cfg-options', *_options(), 'sync_bn=torch'],
        cwd=repo_root, PYTHON=python_exe, PORT=str(free_port()))
    return work_dir, output, 3


@pytest.fixture(params=['slurm_two_ranks', 'torchrun_three_ranks'])
def distributed_run(request):
    return request.getfixturevalue(request.param)


def test_the_search_runs_under_the_default_ddp_wrapper(distributed_run):
    work_dir, output, world_size = distributed_run
    assert f'GPU number: {world_size}' in output  # mmengine's name for the world size
    assert "phase 'refine'" in output  # depth frozen midway, with no unused parameters
    assert 'find_unused_parameters' not in output  # mmengine's default: False
    info = json.loads((work_dir / 'ranks' / 'rank0_subnet.json').read_text())
    assert info['model_wrapper'] == 'MMDistributedDataParallel'
    assert info['norm_types'] == ['DMSSyncBatchNorm']  # every BN searched and synchronised


def test_every_rank_holds_the_same_structure_at_every_logged_iteration(distributed_run):
    work_dir, _, world_size = distributed_run
    moved = False
    for iteration in range(1, ITERATIONS + 1):
        states = [torch.load(work_dir / 'ranks' / f'rank{r}_iter{iteration}.pth')
                  for r in range(world_size)]
        for other in states[1:]:
            assert states[0].keys() == other.keys()
            for name, values in states[0].items():
                if name == 'first_norm_running_mean':
                    # SyncBN: the statistics are those of the whole batch, on every rank
                    torch.testing.assert_close(values, other[name], rtol=1e-5, atol=1e-6)
                    continue
                for key in ('keep_ratio', 'importance', 'hard_mask'):
                    assert torch.equal(values[key], other[name][key]), (iteration, name, key)
        moved |= any(float(v['keep_ratio']) < 1.0 for k, v in states[0].items()
                     if k != 'first_norm_running_mean')
    assert moved  # the agreement is not that of an untouched supernet


def test_every_rank_agrees_on_the_exported_subnet(distributed_run):
    work_dir, output, world_size = distributed_run
    assert f'all {world_size} ranks agree on the searched structure' in output
    exported = subnet(work_dir)
    for rank in range(world_size):
        mine = json.loads((work_dir / 'ranks' / f'rank{rank}_subnet.json').read_text())
        assert mine['units'] == exported['units'] and mine['stages'] == exported['stages']
