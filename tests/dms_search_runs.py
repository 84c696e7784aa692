"""Shared pieces of the end-to-end search tests: a shrunk digits search run
through the real tools, and configs that add the hooks of dms_test_hooks."""
import json
import os
import os.path as osp
import subprocess

TESTS_DIR = osp.dirname(osp.abspath(__file__))
SEARCH_CONFIG = 'configs/dms/efficientnet/dms_efficientnet-b0_search_digits.py'

# The digits search of EfficientNet-B0, shrunk: 64 training images in batches of
# 16 (4 iterations an epoch), a checkpoint every epoch, validation only at the end,
# a log line every iteration, and a faster structure learning rate so that the
# FLOPs reach the target within the few iterations.
SHRINK = [
    'train_dataloader.dataset.indices=64',
    'train_dataloader.batch_size=16',
    'val_dataloader.dataset.indices=32',
    'default_hooks.logger.interval=1',
    'default_hooks.checkpoint.interval=1',
    'optim_wrapper.optimizer.lr=0.02',
    'optim_wrapper.paramwise_cfg.custom_keys.mutator.lr=0.01',
]


def search_options(epochs: int):
    """``--cfg-options`` of a shrunk search of ``epochs`` epochs."""
    return [f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}', *SHRINK]


def env(**extra):
    """The environment of a run: this folder importable (dms_test_hooks), one
    thread per process (2 cores; and a fixed summation order)."""
    full = dict(os.environ)
    paths = [TESTS_DIR] + [p for p in full.get('PYTHONPATH', '').split(os.pathsep) if p]
    full.update(PYTHONPATH=os.pathsep.join(paths), OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    full.update(extra)
    return full


def config_with_hooks(path, repo_root, hooks, base=SEARCH_CONFIG):
    """Write a config that inherits ``base`` and appends ``hooks`` (dicts, as
    source text) to its custom hooks.

    Returns:
        str: The path written.
    """
    text = (f'_base_ = [{osp.join(repo_root, base)!r}]\n'
            "custom_imports = dict(imports=['dms_mm', 'dms_test_hooks'], "
            'allow_failed_imports=False)\n'
            f'custom_hooks = _base_.custom_hooks + [{", ".join(hooks)}]\n')
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def run(cmd, cwd, expect_ok=True, timeout=600, **extra_env):
    """Run a command; return (return code, stdout + stderr)."""
    proc = subprocess.run(cmd, cwd=cwd, env=env(**extra_env), capture_output=True, text=True,
                          timeout=timeout)
    output = proc.stdout + proc.stderr
    if expect_ok:
        assert proc.returncode == 0, f'{" ".join(map(str, cmd))} failed:\n{output[-6000:]}'
    return proc.returncode, output


def scalars(work_dir):
    """The training scalars of every run under ``work_dir`` (all
    ``vis_data/scalars.json`` files, in time order)."""
    files = sorted(osp.join(root, name) for root, _, names in os.walk(work_dir)
                   for name in names if name == 'scalars.json')
    rows = []
    for path in files:
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if 'flops_ratio' in r]


def subnet(work_dir):
    with open(osp.join(work_dir, 'dms_export', 'subnet.json')) as f:
        return json.load(f)


def tool(python_exe, args, cwd, timeout=900):
    """Run ``tools/<script> ...`` (``args`` starts with the script) as a user runs it,
    one thread per process; return its output (the test fails if it fails)."""
    _, output = run([python_exe, *map(str, args)], cwd, timeout=timeout)
    return output


def export_options(export_dir):
    """``--cfg-options`` that point a retrain config at a search's export."""
    return [f'model.subnet={export_dir}/subnet.json', f'model.checkpoint={export_dir}/pruned.pth']


# The digits for an end-to-end run: 256 training images (8 iterations an epoch in
# batches of 32), 128 for validation and for the test.
DIGITS_256 = ['train_dataloader.dataset.indices=256', 'val_dataloader.dataset.indices=128',
              'test_dataloader.dataset.indices=128']


def short_schedule(epochs: int, warmup_iters: int, log_interval: int):
    """``--cfg-options`` of a search of ``epochs`` epochs, validated at the end, its
    warm-up (the first param scheduler) over ``warmup_iters`` iterations."""
    return [f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
            f'default_hooks.logger.interval={log_interval}',
            f'param_scheduler.0.end={warmup_iters}']


def search_retrain_test(python_exe, repo_root, root, configs, search_options, data_options,
                        retrain_options=('train_cfg.max_epochs=1', 'train_cfg.val_interval=1')):
    """Search, export (by DMSExportHook), retrain for one epoch and test, through tools/.

    Args:
        configs (tuple[str, str]): The search and the retrain config.
        search_options (list[str]): ``--cfg-options`` of the search.
        data_options (list[str]): ``--cfg-options`` of all three runs (data).

    Returns:
        tuple: The output of the search, the subnet dict it exported, and the
        outputs of the retrain and the test.
    """
    search_cfg, retrain_cfg = configs
    search_dir, retrain_dir = root / 'search', root / 'retrain'
    search = tool(python_exe, ['tools/train.py', search_cfg, '--work-dir', search_dir,
                               '--cfg-options', *search_options, *data_options], repo_root)
    export = search_dir / 'dms_export'
    retrain = tool(python_exe, ['tools/train.py', retrain_cfg, '--work-dir', retrain_dir,
                                '--cfg-options', *export_options(export), *retrain_options,
                                *data_options], repo_root)
    test = tool(python_exe, ['tools/test.py', retrain_cfg, retrain_dir / 'epoch_1.pth',
                             '--work-dir', root / 'test', '--cfg-options',
                             f'model.subnet={export}/subnet.json', 'model.checkpoint=None',
                             *data_options], repo_root)
    return search, subnet(search_dir), retrain, test


def make_shapes(python_exe, repo_root, root, num_train, num_val):
    """Generate the COCO-format shapes set in ``root`` with tools/make_shapes_coco.py."""
    out = tool(python_exe, ['tools/make_shapes_coco.py', root, '--num-train', num_train,
                            '--num-val', num_val], repo_root)
    assert 'classes: rectangle, circle, triangle' in out
    return root


def shapes_options(root, train_dataset='train_dataloader.dataset'):
    """``--cfg-options`` that point a shapes config at a set generated in ``root``
    (``train_dataset``: where the training set's config is, under a wrapper)."""
    ann_file = f'{root}/annotations/instances_val.json'
    return [f'{train_dataset}.data_root={root}/', f'val_dataloader.dataset.data_root={root}/',
            f'test_dataloader.dataset.data_root={root}/', f'val_evaluator.ann_file={ann_file}',
            f'test_evaluator.ann_file={ann_file}']


#: a small Llama of the shape of configs/llama's: 2 layers, hidden 64, 4 query heads in 2 groups
LLAMA_SMALL = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                   num_attention_heads=4, num_key_value_heads=2)
#: few windows, small batches, frequent logs
LLAMA_DATA = ['train_dataloader.batch_size=4', 'val_dataloader.dataset.num_windows=8',
              'default_hooks.logger.interval=2']


def llama_small(prefix: str):
    """``--cfg-options`` that make the Llama config at ``prefix`` (``model``,
    ``model.architecture``) :data:`LLAMA_SMALL`."""
    return [f'{prefix}.config.{k}={v}' for k, v in LLAMA_SMALL.items()]
