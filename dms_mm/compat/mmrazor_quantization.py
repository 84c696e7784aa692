"""Let mmrazor 1.0.0 import on torch 2.x, without its quantization parts.

Problem:
    ``import mmrazor.models`` (and ``mmrazor.structures``, ``mmrazor.engine``)
    fails on torch 2.x with ``ImportError: `torch>=1.13` is not installed
    properly``. The cause is ``mmrazor.structures.quantization``: its
    ``backend_config`` modules import ``reverse2``, ``reverse3`` and
    ``reverse_sequential_wrapper2`` from
    ``torch.ao.quantization.fuser_method_mappings``, which torch 2.x removed,
    fall back to placeholders, and then touch those placeholders while the
    module is being imported. Everything in mmrazor imports that package
    through ``mmrazor.structures`` and ``mmrazor.models``, so even the pruning
    and NAS parts cannot be used.

Fix:
    An import hook serves ``mmrazor.structures.quantization`` (and any of its
    submodules) as a stand-in module. Every name taken from it is an object
    that raises :class:`QuantizationUnavailableError`, saying why, as soon as
    it is used (called, indexed, or asked for an attribute). The rest of
    mmrazor imports unchanged: pruning (ChannelMutator, ChannelAnalyzer,
    dynamic ops), NAS, distillation, ``export_fix_subnet``/``load_fix_subnet``.
    Quantization (``MMArchitectureQuant``, the quantizers, the PTQ/QAT loops)
    is unavailable; DMS does not use it. Building one of them raises
    :class:`QuantizationUnavailableError`.

Versions:
    Written for mmrazor 1.0.0 (the last release) on torch>=2.0.
"""
import importlib.abc
import importlib.machinery
import sys
import types

FIXED_FOR = {'mmrazor': '==1.0.0', 'torch': '>=2.0'}

STUBBED_PACKAGE = 'mmrazor.structures.quantization'

_REASON = (
    'mmrazor quantization is unavailable under dms_mm: mmrazor 1.0.0\'s '
    '`mmrazor.structures.quantization` imports helpers that torch 2.x removed '
    '(torch.ao.quantization.fuser_method_mappings.reverse2/reverse3/'
    'reverse_sequential_wrapper2), so dms_mm.compat.mmrazor_quantization '
    'replaces it with this stand-in to let the rest of mmrazor import. '
    'DMS does not need quantization; use torch 1.13 with mmrazor for it.')


class QuantizationUnavailableError(ImportError):
    """Raised when a part of mmrazor's quantization is used under dms_mm."""


class _Unavailable:
    """A name from the stubbed package. Any use raises, with the reason."""

    def __init__(self, qualname: str):
        self._qualname = qualname

    def _raise(self, *args, **kwargs):
        raise QuantizationUnavailableError(f'{self._qualname}: {_REASON}')

    __call__ = _raise
    __getitem__ = _raise
    __iter__ = _raise

    def __getattr__(self, name):
        if name.startswith('__') and name.endswith('__'):
            raise AttributeError(name)
        self._raise()

    def __mro_entries__(self, bases):
        self._raise()

    def __repr__(self):
        return f'<unavailable {self._qualname} (see dms_mm.compat.mmrazor_quantization)>'


class _StubModule(types.ModuleType):

    def __getattr__(self, name):
        if name.startswith('__') and name.endswith('__'):
            raise AttributeError(name)
        return _Unavailable(f'{self.__name__}.{name}')


class _StubLoader(importlib.abc.Loader):

    def create_module(self, spec):
        module = _StubModule(spec.name, _REASON)
        module.__path__ = []  # a package, so submodule imports reach the finder
        module.__all__ = []  # `from ... import *` brings nothing
        module.__dms_mm_stub__ = True
        return module

    def exec_module(self, module):
        return None


class _StubFinder(importlib.abc.MetaPathFinder):

    def find_spec(self, fullname, path=None, target=None):
        if fullname == STUBBED_PACKAGE or fullname.startswith(STUBBED_PACKAGE + '.'):
            return importlib.machinery.ModuleSpec(fullname, _StubLoader(), is_package=True)
        return None


_FINDER = _StubFinder()

# Entry points of mmrazor's quantization: building any of them raises at once,
# before an architecture or a dataloader is built for nothing.
_QUANTIZATION_ENTRY_POINTS = {
    'mmrazor.models.algorithms.quantization.mm_architecture':
    ('MMArchitectureQuant', 'MMArchitectureQuantDDP'),
    'mmrazor.models.quantizers.base': ('BaseQuantizer', ),
    'mmrazor.engine.runner.quantization_loops':
    ('QATEpochBasedLoop', 'LSQEpochBasedLoop', 'QATValLoop', 'PTQLoop'),
}


def _refuse_init(qualname):

    def __init__(self, *args, **kwargs):
        raise QuantizationUnavailableError(f'{qualname}: {_REASON}')

    __init__.__dms_mm_refuses__ = True
    return __init__


def _disable_entry_points():
    import importlib

    for module_name, class_names in _QUANTIZATION_ENTRY_POINTS.items():
        module = importlib.import_module(module_name)
        for class_name in class_names:
            cls = getattr(module, class_name)
            cls.__init__ = _refuse_init(f'{module_name}.{class_name}')


def apply() -> None:
    """Install the import hook. Idempotent.

    Raises:
        RuntimeError: If mmrazor's real quantization package was imported
            before dms_mm (it would have failed, or stays half-imported).
    """
    if _FINDER in sys.meta_path:
        return
    loaded = sys.modules.get(STUBBED_PACKAGE)
    if loaded is not None and not getattr(loaded, '__dms_mm_stub__', False):
        raise RuntimeError(
            f'{STUBBED_PACKAGE} was imported before dms_mm; import dms_mm '
            'first (or list it first in custom_imports).')
    sys.meta_path.insert(0, _FINDER)
    _disable_entry_points()


def is_applied() -> bool:
    return _FINDER in sys.meta_path
