"""A DMS search of a Llama under mmengine's FlexibleRunner with FSDP
(DMSFSDPStrategy), as a user launches it: 2 CPU processes through
tools/dist_train.sh on gloo. The architecture is sharded, the structure
parameters stay whole on every rank, and the export reads the full weights.

The weights train at a learning rate of 0, so the exported weights must be
the dense checkpoint's, sliced to the kept channels: an export that read the
shards would not be."""
import json

import torch

from dms_search_runs import LLAMA_DATA, llama_small, run
from dms_test_utils import free_port

SEARCH = 'configs/dms/llama/dms_llama-6l-h256_search_shakespeare.py'
DENSE = 'configs/llama/llama-6l-h256_1xb16_shakespeare.py'



def test_a_llama_search_under_fsdp_exports_the_full_weights(repo_root, python_exe, tmp_path):
    dense, search = tmp_path / 'dense', tmp_path / 'search'
    run([python_exe, 'tools/train.py', DENSE, '--work-dir', str(dense), '--cfg-options',
         *llama_small('model'), 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
         'default_hooks.checkpoint.interval=2', *LLAMA_DATA], cwd=repo_root)
    _, output = run(
        ['bash', 'tools/dist_train.sh', SEARCH, '2', '--work-dir', str(search), '--cfg-options',
         *llama_small('model.architecture'), *LLAMA_DATA, 'train_cfg.max_iters=12',
         'train_cfg.val_interval=12', 'default_hooks.checkpoint.interval=12',
         f'model.architecture.init_cfg.checkpoint={dense / "iter_2.pth"}',
         'runner_type=FlexibleRunner', 'strategy.type=DMSFSDPStrategy',
         'optim_wrapper.optimizer.lr=0.0', 'param_scheduler=[]'],
        cwd=repo_root, PYTHON=python_exe, PORT=str(free_port()))
    assert 'GPU number: 2' in output  # mmengine's name for the world size
    assert 'all 2 ranks agree on the searched structure' in output
    ratios = [float(x) for x in __import__('re').findall(r'params_ratio: ([\d.]+)', output)]
    assert ratios[-1] < 1.0  # the structure parameters trained (averaged over the ranks)

    subnet = json.loads((search / 'dms_export' / 'subnet.json').read_text())
    hidden = next(u for u in subnet['units'] if u['name'].startswith('model.model.embed_tokens'))
    pruned = torch.load(search / 'dms_export' / 'pruned.pth', map_location='cpu')['state_dict']
    original = torch.load(dense / 'iter_2.pth', map_location='cpu')['state_dict']
    kept = torch.tensor(hidden['kept'])
    for key in ('model.model.embed_tokens.weight', 'model.lm_head.weight'):
        torch.testing.assert_close(pruned[key], original[key][:, kept], rtol=0, atol=0)
    assert pruned['model.model.norm.weight'].numel() == len(kept)
