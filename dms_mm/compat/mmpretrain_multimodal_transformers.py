"""Keep mmpretrain's image models importable beside a transformers its
multimodal models cannot use.

Problem:
    mmpretrain 1.2.0 imports its multimodal models (BLIP, BLIP-2, Flamingo,
    LLaVA, MiniGPT-4, OFA, Otter, CLIP, Chinese-CLIP, RAM) whenever pycocotools
    and transformers>=4.28 are installed (its switch
    ``mmpretrain.utils.dependency.WITH_MULTIMODAL``). Their modules take
    ``find_pruneable_heads_and_indices``, ``apply_chunking_to_forward`` and
    ``prune_linear_layer`` from ``transformers.modeling_utils``, which newer
    transformers no longer define there (neither 4.57.6 nor 5.25.0); the import
    falls back to None and fails at ``class BertPreTrainedModel(PreTrainedModel)``
    with ``TypeError: NoneType takes no arguments``. mmengine's registry imports
    ``mmpretrain.models`` as a whole, so with transformers 5.25.0 installed (for
    dms_mm's language models) no mmpretrain model could be built at all: every
    ResNet search of the glyphs comparison failed so (2026-12-04).

Fix:
    Where the installed ``transformers/modeling_utils.py`` no longer defines
    ``find_pruneable_heads_and_indices`` (read from its source, without
    importing transformers, which takes seconds), ``WITH_MULTIMODAL`` is set to
    False before mmpretrain's models are imported. mmpretrain then registers
    its own placeholders for the multimodal models, which raise an ImportError
    asking for mmpretrain's multimodal extras when one is built (the message
    names RAMOpenset whichever is built: a late-binding slip of mmpretrain's,
    left alone); its image models (all that dms_mm searches) import as they do
    without transformers. Nothing changes where transformers is not installed
    or still has those names.

Versions:
    Written for mmpretrain 1.2.0 (the last release) with transformers 5.25.0.
"""
import importlib.util
import os.path as osp
import sys

FIXED_FOR = {'mmpretrain': '==1.2.0', 'transformers': '>=4.57'}

#: a name mmpretrain's multimodal models import from transformers.modeling_utils
NEEDED = 'find_pruneable_heads_and_indices'
_APPLIED = False


def transformers_lacks_what_mmpretrain_imports() -> bool:
    """True when transformers is installed and its ``modeling_utils`` source no
    longer mentions :data:`NEEDED`."""
    spec = importlib.util.find_spec('transformers')
    if spec is None or not spec.submodule_search_locations:
        return False
    path = osp.join(list(spec.submodule_search_locations)[0], 'modeling_utils.py')
    if not osp.isfile(path):
        return False
    with open(path, encoding='utf-8') as f:
        return NEEDED not in f.read()


def apply() -> None:
    """Switch mmpretrain's multimodal models off where they cannot import."""
    global _APPLIED
    if _APPLIED:
        return
    _APPLIED = True
    if 'mmpretrain.models.multimodal' in sys.modules:
        return  # imported already: too late to change, and nothing failed
    if transformers_lacks_what_mmpretrain_imports():
        from mmpretrain.utils import dependency
        dependency.WITH_MULTIMODAL = False


def is_applied() -> bool:
    return _APPLIED
