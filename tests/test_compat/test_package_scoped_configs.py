"""``_base_ = ['dms_mm::...']`` resolves from any folder, for an editable and a
non-editable install."""
import os
import shutil
import subprocess
import textwrap

import pytest
from mmengine.config import Config
from mmengine.config.utils import MODULE2PACKAGE

from dms_mm.compat import package_scoped_configs

SEARCH_IN1K = 'dms_mm::dms/efficientnet/dms_efficientnet-b0_search_in1k.py'


def _write_downstream_config(folder):
    path = folder / 'my_search.py'
    path.write_text(textwrap.dedent(f"""\
        _base_ = ['{SEARCH_IN1K}']
        model = dict(target_flops_ratio=0.4)
        """))
    return path


def test_fix_is_applied_and_registers_the_scope():
    assert package_scoped_configs.is_applied()
    assert MODULE2PACKAGE['dms_mm'] == 'dms_mm'


def test_downstream_config_inherits_a_dms_mm_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nowhere near the checkout
    cfg = Config.fromfile(str(_write_downstream_config(tmp_path)))
    assert cfg.model.type == 'DMSAlgorithm'
    assert cfg.model.target_flops_ratio == 0.4  # the downstream override
    # our config's own base, inherited through mmpretrain::
    assert cfg.model.architecture.backbone.type == 'EfficientNet'
    assert cfg.model.architecture.backbone.arch == 'b0'


def test_a_config_that_is_not_shipped_names_the_missing_file(tmp_path):
    path = tmp_path / 'bad.py'
    path.write_text("_base_ = ['dms_mm::dms/efficientnet/no_such_config.py']\n")
    with pytest.raises(FileNotFoundError, match='no_such_config.py'):
        Config.fromfile(str(path))


@pytest.fixture(scope='module')
def plain_install(tmp_path_factory, repo_root, python_exe):
    """dms_mm installed with ``pip install .`` (no editable link) into a folder."""
    source = tmp_path_factory.mktemp('source') / 'dms_mm_src'
    shutil.copytree(repo_root, source, symlinks=True, ignore=shutil.ignore_patterns(
        '.venv', '.git', 'work_dirs', 'build', 'dist', '*.egg-info', '__pycache__',
        '.pytest_cache', '.ruff_cache'))
    target = tmp_path_factory.mktemp('site')
    proc = subprocess.run(
        [python_exe, '-m', 'pip', 'install', '--no-deps', '--no-build-isolation',
         '--no-index', '--quiet', '--target', str(target), str(source)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return target


def test_non_editable_install_ships_the_configs(plain_install, tmp_path, python_exe):
    mim = plain_install / 'dms_mm' / '.mim'
    assert (mim / 'configs').is_dir() and not (mim / 'configs').is_symlink()
    assert (mim / 'configs/dms/efficientnet/dms_efficientnet-b0_search_digits.py').is_file()
    config = _write_downstream_config(tmp_path)
    script = textwrap.dedent(f"""\
        import dms_mm
        from mmengine.config import Config
        assert dms_mm.__file__.startswith({str(plain_install)!r}), dms_mm.__file__
        cfg = Config.fromfile({str(config)!r})
        print('RESOLVED', cfg.model.type, cfg.model.architecture.backbone.arch)
        """)
    env = dict(os.environ, PYTHONPATH=str(plain_install))
    proc = subprocess.run([python_exe, '-c', script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'RESOLVED DMSAlgorithm b0' in proc.stdout
