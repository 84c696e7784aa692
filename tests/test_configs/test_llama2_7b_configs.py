"""The full-scale Llama-2-7B configs (FlexibleRunner, FSDP, a local model folder,
WikiText-2's raw files), run as a user runs them on a cluster, here on a tiny
Llama saved the same way (transformers folder with its tokenizer) and 2 CPU
processes: the search, then the finetune of its export. What only GPUs show
(the 7B memory, NCCL, the time) is not tested here."""
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from dms_search_runs import run
from dms_test_utils import free_port, save_tiny_tokenizer

SEARCH = 'configs/dms/llama/dms_llama2-7b_search_8xb4_wikitext2.py'
FINETUNE = 'configs/dms/llama/dms_llama2-7b_finetune_8xb4_wikitext2.py'
TEXTS = 'data/shakespeare/texts'


def test_the_search_config_is_the_papers_setting(repo_root):
    cfg = Config.fromfile(osp.join(repo_root, SEARCH))
    assert cfg.runner_type == 'FlexibleRunner' and cfg.strategy.type == 'DMSFSDPStrategy'
    assert cfg.model.target_params == 5.47e9  # the paper's Llama-7B target
    assert cfg.model.architecture.pretrained == 'data/Llama-2-7b-hf'
    assert cfg.val_dataloader.dataset.ann_file == 'wiki.test.raw'
    assert cfg.val_dataloader.dataset.block_size == 128


def _tiny_llama_folder(folder, text):
    """A Llama folder as transformers saves one: config, weights, tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    vocab_size = save_tiny_tokenizer(folder, text)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=176,
                         num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=8,
                         max_position_embeddings=32, tie_word_embeddings=False)
    LlamaForCausalLM(config).save_pretrained(folder)


def _local(folder, data):
    return [f'model.architecture.pretrained={folder}', 'train_cfg.max_iters=2',
            'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
            'param_scheduler=[]', 'default_hooks.logger.interval=1',
            *[f'{loader}.{key}' for loader in ('train_dataloader', 'val_dataloader',
                                                'test_dataloader')
              for key in (f'dataset.data_root={data}', f'dataset.tokenizer={folder}',
                          'dataset.block_size=16', 'num_workers=0', 'batch_size=2')]]


@pytest.mark.skipif(not osp.isdir(TEXTS), reason='needs the Shakespeare texts (make install)')
def test_search_then_finetune_run_with_the_full_scale_runner_and_strategy(
        repo_root, python_exe, tmp_path):
    with open(osp.join(repo_root, TEXTS, 'macbeth_gut.txt'), encoding='utf-8') as f:
        text = f.read()[:20000]
    folder, data = tmp_path / 'llama', tmp_path / 'wikitext'
    data.mkdir()
    (data / 'wiki.train.raw').write_text(text[:16000], encoding='utf-8')
    (data / 'wiki.test.raw').write_text(text[16000:], encoding='utf-8')
    _tiny_llama_folder(str(folder), text)

    search = tmp_path / 'search'
    _, output = run(['bash', 'tools/dist_train.sh', SEARCH, '2', '--work-dir', str(search),
                     '--cfg-options', *_local(folder, data), 'model.target_params=None',
                     'model.target_params_ratio=0.8',
                     'model.mutator.parse_cfg.demo_input=[1,16]'],
                    cwd=repo_root, PYTHON=python_exe, PORT=str(free_port()))
    assert 'GPU number: 2' in output  # mmengine's name for the world size
    assert 'all 2 ranks agree on the searched structure' in output
    assert 'lm/perplexity' in output
    subnet = json.loads((search / 'dms_export' / 'subnet.json').read_text())
    assert subnet['resources']['static_params'] <= 0.8 * subnet['resources'][
        'counted_supernet_params']  # the export is scaled onto the target

    _, output = run(['bash', 'tools/dist_train.sh', FINETUNE, '2', '--work-dir',
                     str(tmp_path / 'finetune'), '--cfg-options', *_local(folder, data),
                     f'model.subnet={search / "dms_export" / "subnet.json"}',
                     f'model.checkpoint={search / "dms_export" / "pruned.pth"}',
                     # (mmengine's FSDPStrategy puts the model on a GPU unless told)
                     'strategy.model_wrapper.type=MMFullyShardedDataParallel',
                     'strategy.model_wrapper.device_id=cpu'],
                    cwd=repo_root, PYTHON=python_exe, PORT=str(free_port()))
    assert 'GPU number: 2' in output
    assert 'lm/perplexity' in output
