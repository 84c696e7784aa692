"""A Llama searched by DMS under a parameter target and finetuned, through
tools/train.py: dense training, search, export, finetune of the export, and
tools/export_hf.py: the finetuned Llama as a folder transformers loads."""
import json
import re
import subprocess

import pytest
import torch

from dms_search_runs import LLAMA_DATA, llama_small

DENSE = 'configs/llama/llama-6l-h256_1xb16_shakespeare.py'
SEARCH = 'configs/dms/llama/dms_llama-6l-h256_search_shakespeare.py'
FINETUNE = 'configs/dms/llama/dms_llama-6l-h256_finetune_shakespeare.py'



def _steps(n):
    return [f'train_cfg.max_iters={n}', f'train_cfg.val_interval={n}']


def _run(cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd)} failed:\n{output[-6000:]}'
    return output


def test_a_llama_is_searched_to_a_params_target_exported_and_finetuned(
        repo_root, python_exe, tmp_path):
    dense, search, finetune = tmp_path / 'dense', tmp_path / 'search', tmp_path / 'finetune'
    _run([python_exe, 'tools/train.py', DENSE, '--work-dir', str(dense), '--cfg-options',
          *llama_small('model'), *_steps(4), 'default_hooks.checkpoint.interval=4',
          *LLAMA_DATA], repo_root)
    out = _run([python_exe, 'tools/train.py', SEARCH, '--work-dir', str(search), '--cfg-options',
                *llama_small('model.architecture'), *_steps(24), *LLAMA_DATA,
                f'model.architecture.init_cfg.checkpoint={dense / "iter_4.pth"}'], repo_root)
    assert f'load model from: {dense / "iter_4.pth"}' in out
    summary = out[out.index('DMSMutator summary'):]
    # hidden, then GQA groups and FFN of each layer; the layers as one stage
    assert re.search(r'channel units: 5 searched, 0 left out', summary)
    assert re.search(r'model\.model\.layers: 2 blocks, removable \[0, 1\]', summary)
    ratios = [float(x) for x in re.findall(r'params_ratio: ([\d.]+)', out)]
    assert ratios[-1] < 0.95 < ratios[0] <= 1.0  # pulled down toward the target 0.8

    export = search / 'dms_export'
    subnet = json.loads((export / 'subnet.json').read_text())
    res = subnet['resources']
    assert res['target_ratio'] == 0.8
    # mmengine's count of the exported Llama is DMS's count of the searched one
    assert res['static_params'] == res['soft_params'] < res['counted_supernet_params']
    groups = [u for u in subnet['units'] if u['name'].endswith('self_attn.q_proj_(0, 64)_2')]
    assert len(groups) == 2 and all(len(u['kept']) >= 1 for u in groups)
    static = torch.load(export / 'pruned.pth', map_location='cpu', weights_only=False)
    assert sum(v.numel() for v in static['state_dict'].values()) == res['static_params']

    subnet_options = [*llama_small('model.architecture'), f'model.subnet={export / "subnet.json"}']
    out = _run([python_exe, 'tools/train.py', FINETUNE, '--work-dir', str(finetune),
                '--cfg-options', *subnet_options, *_steps(4), *LLAMA_DATA,
                f'model.checkpoint={export / "pruned.pth"}'], repo_root)
    assert re.search(r'Iter\(val\) \[\d+/\d+\]\s+lm/perplexity: [\d.]+', out)

    folder = tmp_path / 'hf'
    out = _run([python_exe, 'tools/export_hf.py', FINETUNE, str(finetune / 'iter_4.pth'),
                '--out', str(folder), '--cfg-options', *subnet_options], repo_root)
    found = re.search(r'export_hf: .* a (\w+) folder, (\w+) with ([\d.]+) M params; reloaded '
                      r'without dms_mm \(imported: False\), its logits differ from the pruned '
                      r"model's by ([\d.e+-]+)", out)
    assert found, out[-3000:]
    assert float(found.group(3)) * 1e6 == pytest.approx(res['static_params'], abs=50)
    assert float(found.group(4)) <= 1e-4
