"""A user's own repo, outside the checkout: a custom backbone that no dms_mm code
knows, searched through a config that inherits ``dms_mm::`` and exported.

The repo is ``tests/data/downstream_repo``; the README shows its search config.
"""
import json
import os
import re
import shutil
import subprocess
import textwrap

import pytest

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'data', 'downstream_repo')
SEARCH = 'configs/tinynet_dms_search_digits.py'
RETRAIN = 'configs/tinynet_dms_retrain_digits.py'
WORK_DIR = 'work_dirs/tinynet_dms_search_digits'


def _run(args, cwd, python_exe, timeout=900):
    env = dict(os.environ, PYTHONPATH=str(cwd))
    proc = subprocess.run([python_exe] + args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    return output


@pytest.fixture(scope='module')
def user_repo(tmp_path_factory, repo_root, python_exe):
    repo = tmp_path_factory.mktemp('elsewhere') / 'my_repo'
    shutil.copytree(DATA, repo, ignore=shutil.ignore_patterns('__pycache__'))
    output = _run([os.path.join(repo_root, 'tools', 'train.py'), SEARCH, '--cfg-options',
                   'train_cfg.max_epochs=1', 'train_cfg.val_interval=1'], repo, python_exe)
    return repo, output


def test_the_custom_blocks_are_found_as_stages(user_repo):
    repo, output = user_repo
    history = json.loads((repo / WORK_DIR / 'search_history.json').read_text())
    stages = history['structure']['stages']
    assert stages['backbone.stage1']['blocks'] == [f'backbone.stage1.{i}' for i in range(3)]
    # CheckedResBlock is removable because the config declares it so
    assert stages['backbone.stage2']['blocks'] == ['backbone.stage2.0', 'backbone.stage2.1']
    assert re.search(r'\[searched\] backbone.stage1: 3 blocks, removable \[0, 1, 2\]', output)
    assert re.search(r'\[searched\] backbone.stage2: 2 blocks, removable \[0, 1\]', output)


def test_the_units_are_found(user_repo):
    repo, _ = user_repo
    history = json.loads((repo / WORK_DIR / 'search_history.json').read_text())
    searched = sorted(n for n, u in history['structure']['units'].items() if u['searched'])
    assert any(n.startswith('backbone.stem.0') for n in searched)  # the stage1 residual width
    for block in range(3):  # each PlainResBlock's hidden width
        assert any(n.startswith(f'backbone.stage1.{block}.conv1') for n in searched)


def test_the_summary_names_what_cannot_be_searched_and_why(user_repo):
    _, output = user_repo
    for block in ('backbone.stage2.0', 'backbone.stage2.1'):
        line = next(x for x in output.splitlines() if f'[NOT TRACED] {block}:' in x)
        assert 'torch.fx cannot trace the forward of CheckedResBlock' in line
        assert "layers ['conv1', 'bn1', 'conv2', 'bn2'] keep their width" in line


def test_the_export_is_a_static_model(user_repo, python_exe):
    repo, output = user_repo
    export = repo / WORK_DIR / 'dms_export'
    assert 'DMS export to' in output
    subnet = json.loads((export / 'subnet.json').read_text())
    kept_blocks = {s['name']: len(s['kept_blocks']) for s in subnet['stages']}
    script = textwrap.dedent(f"""\
        import json
        import torch
        import dms_mm
        from mmengine.config import Config
        from mmengine.registry import init_default_scope
        from mmrazor.registry import MODELS
        from mmrazor.models.architectures.dynamic_ops import DynamicMixin
        from dms_mm.dynamic_ops import DMSOpMixin

        cfg = Config.fromfile({RETRAIN!r})
        init_default_scope(cfg.default_scope)
        model = MODELS.build(cfg.model).eval()
        dynamic = [n for n, m in model.named_modules()
                   if isinstance(m, (DMSOpMixin, DynamicMixin)) or m._forward_hooks]
        backbone = model.backbone
        out = model(torch.rand(2, 3, 32, 32), mode='tensor')
        print('STATIC', json.dumps(dict(
            dynamic=dynamic, stage1=len(backbone.stage1), stage2=len(backbone.stage2),
            out=list(out.shape), types=sorted({{type(m).__module__.split('.')[0]
                                               for m in backbone.modules()}}))))
        """)
    result = _run(['-c', script], repo, python_exe)
    static = json.loads(result.split('STATIC ', 1)[1].splitlines()[0])
    assert static['dynamic'] == []
    assert static['stage1'] == kept_blocks['backbone.stage1']
    assert static['stage2'] == kept_blocks['backbone.stage2']
    assert static['out'] == [2, 10]
    assert set(static['types']) <= {'torch', 'my_project'}


def test_the_readme_shows_this_config(repo_root):
    with open(os.path.join(repo_root, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    with open(os.path.join(DATA, SEARCH), encoding='utf-8') as f:
        config = f.read()
    assert '## Use dms_mm in your own repo' in readme
    assert f'```python\n{config}```' in readme
