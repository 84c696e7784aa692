"""Every dms_mm module imports, and a config's custom_imports registers dms_mm."""
import importlib
import pkgutil
import subprocess
import sys

import dms_mm


def test_every_module_imports():
    names = [m.name for m in pkgutil.walk_packages(dms_mm.__path__, 'dms_mm.')]
    assert 'dms_mm.compat.mmrazor_quantization' in names
    for name in names:
        importlib.import_module(name)


def test_custom_imports_registers_dms_mm(tmp_path):
    """A fresh interpreter reads a config that names dms_mm in custom_imports,
    as tools/train.py of any OpenMMLab repo would."""
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(
        "custom_imports = dict(imports=['dms_mm'], allow_failed_imports=False)\n")
    code = (
        'import sys\n'
        'from mmengine.config import Config\n'
        f'Config.fromfile({str(cfg_file)!r})\n'
        'assert "dms_mm" in sys.modules\n'
        'from mmpretrain.registry import DATASETS\n'
        'assert DATASETS.get("DigitsDataset") is not None\n'
        'import mmrazor.models\n'
        'print("ok")\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'ok'
