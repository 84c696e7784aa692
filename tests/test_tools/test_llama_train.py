"""The Llama config on Shakespeare through tools/train.py and tools/test.py."""
import re
import subprocess

CONFIG = 'configs/llama/llama-6l-h256_1xb16_shakespeare.py'
SHORT = ['train_cfg.max_iters=6', 'train_cfg.val_interval=6', 'default_hooks.logger.interval=2',
         'default_hooks.checkpoint.interval=6', 'train_dataloader.batch_size=4',
         'val_dataloader.dataset.num_windows=16', 'test_dataloader.dataset.num_windows=16']


def _run(cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f'{" ".join(cmd)} failed:\n{output[-6000:]}'
    return output


def test_a_llama_trains_and_is_tested_on_held_out_plays(repo_root, python_exe, tmp_path):
    train = _run([python_exe, 'tools/train.py', CONFIG, '--work-dir', str(tmp_path),
                  '--cfg-options', *SHORT], repo_root)
    losses = [float(x) for x in re.findall(r'Iter\(train\) \[ *\d+/6\].*loss: ([\d.]+)', train)]
    assert len(losses) == 3 and losses[-1] < losses[0]
    val = float(re.search(r'Iter\(val\) \[\d+/\d+\]\s+lm/perplexity: ([\d.]+)', train).group(1))
    # 6 steps from scratch: below the 4,096 of a uniform guess, far above a trained model's
    assert 100 < val < 4096
    test = _run([python_exe, 'tools/test.py', CONFIG, str(tmp_path / 'iter_6.pth'),
                 '--work-dir', str(tmp_path / 'test'), '--cfg-options', *SHORT], repo_root)
    assert re.search(r'Iter\(test\) \[\d+/\d+\]\s+lm/perplexity: [\d.]+', test)
