"""benchmarks/llm_compare.py on a small Llama: the baselines prune a trained
dense checkpoint to the target, finetune and are tested through tools/, and
the report gives their perplexity and parameter ratio."""
import json

from benchmarks import llm_compare
from dms_search_runs import LLAMA_DATA, llama_small, run


def test_baselines_are_pruned_finetuned_and_tested(repo_root, python_exe, tmp_path):
    dense = tmp_path / 'dense'
    run([python_exe, 'tools/train.py', llm_compare.DENSE_CONFIG, '--work-dir', str(dense),
         '--cfg-options', *llama_small('model'), 'train_cfg.max_iters=2',
         'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2', *LLAMA_DATA],
        cwd=repo_root)
    work = tmp_path / 'compare'
    llm_compare.main(['--dense', str(dense / 'iter_2.pth'), '--methods', 'uniform', 'shortgpt',
                      '--targets', '0.95', '--seeds', '0', '--search-iters', '2',
                      '--finetune-iters', '2', '--calibration', '1', '--work-dir', str(work),
                      '--cfg-options', *llama_small('model'), *LLAMA_DATA,
                      'test_dataloader.dataset.num_windows=8'])
    records = [json.loads(line) for line in (work / 'runs.jsonl').read_text().splitlines()]
    assert [r['method'] for r in records] == ['uniform', 'shortgpt']
    for record in records:
        assert 'error' not in record, record
        assert record['params_ratio'] <= 0.95 and record['finetune_iters'] == 4
        assert 1 < record['test_perplexity'] < 4096 * 2
    report = (work / 'report.md').read_text()
    assert '| 0.95 | uniform |' in report and '| 0.95 | shortgpt |' in report
