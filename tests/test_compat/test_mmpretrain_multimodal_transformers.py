"""With transformers 5 installed (for the language models), mmpretrain's image models
still build under dms_mm; its multimodal models are placeholders that say so."""
import subprocess
import types

import pytest
from mmengine.registry import DefaultScope

import dms_mm  # noqa: F401
from dms_mm.compat import mmpretrain_multimodal_transformers as fix

RESNET = dict(type='ImageClassifier', backbone=dict(type='ResNet_CIFAR', depth=18),
              neck=dict(type='GlobalAveragePooling'),
              head=dict(type='LinearClsHead', num_classes=10, in_channels=512))


def test_without_the_fix_no_mmpretrain_model_imports(python_exe, repo_root):
    """The problem, as a user meets it: mmpretrain alone, transformers installed."""
    proc = subprocess.run([python_exe, '-c', 'import mmpretrain.models'], cwd=repo_root,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert 'TypeError: NoneType takes no arguments' in proc.stderr


def test_image_models_build_and_multimodal_ones_say_what_they_need():
    from mmpretrain.registry import MODELS
    from mmpretrain.utils import dependency
    assert fix.transformers_lacks_what_mmpretrain_imports()
    assert dependency.WITH_MULTIMODAL is False
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        assert type(MODELS.build(RESNET)).__name__ == 'ImageClassifier'
        with pytest.raises(ImportError, match='multi-modal dependencies'):
            MODELS.build(dict(type='BlipCaption'))
    from transformers import LlamaForCausalLM  # noqa: F401  (the reason it is installed)


@pytest.mark.parametrize('source,lacks', [('def find_pruneable_heads_and_indices(): ...', False),
                                          ('class PreTrainedModel: ...', True)])
def test_only_a_transformers_without_the_name_switches_them_off(tmp_path, monkeypatch,
                                                                source, lacks):
    (tmp_path / 'modeling_utils.py').write_text(source)
    spec = types.SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(fix.importlib.util, 'find_spec',
                        lambda name: spec if name == 'transformers' else None)
    assert fix.transformers_lacks_what_mmpretrain_imports() is lacks
    monkeypatch.setattr(fix.importlib.util, 'find_spec', lambda name: None)
    assert fix.transformers_lacks_what_mmpretrain_imports() is False
