"""Let ``_base_ = ['dms_mm::...']`` resolve, as it does for mmpretrain and mmdet.

Problem:
    mmengine 0.10.x resolves a package-scoped config path (``pkg::rel/path.py``)
    in two steps, and both fail for a package that is not one of its own list:

    * ``mmengine.config.utils._get_package_and_cfg_path`` asserts that the
      package is a key of the fixed dict ``MODULE2PACKAGE`` ("mmengine does not
      support to load dms_mm config");
    * ``mmengine.utils.get_installed_path`` joins the distribution's location
      with the package name. For an editable install made by pip through
      PEP 660 (``pip install -e .``), the location is ``site-packages`` while the
      package stays in the source tree, so the path it returns does not exist
      and the config is "not found".

Fix:
    Add ``'dms_mm': 'dms_mm'`` to ``MODULE2PACKAGE`` (the dict is shared, so the
    entry is seen wherever mmengine reads it), and make the
    ``get_installed_path`` used by ``mmengine.config.config`` fall back to the
    directory Python imports the package from when the path mmengine computed
    does not exist. Installed (non-editable) packages resolve exactly as before.

    The configs themselves are found at ``dms_mm/.mim/configs``: a link to the
    repository's ``configs/`` in a checkout, a copy in a built wheel (see
    ``setup.py``).

Versions:
    Written for mmengine 0.10.x.
"""
import functools
import importlib.util
import os.path as osp

FIXED_FOR = {'mmengine': '>=0.10.0,<0.11.0'}

PACKAGE = 'dms_mm'

_APPLIED = False


def _import_dir(package: str):
    """The directory ``package`` is imported from, or None."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return None
    return osp.dirname(spec.origin)


def _editable_aware(get_installed_path):

    @functools.wraps(get_installed_path)
    def wrapper(package: str) -> str:
        path = get_installed_path(package)
        if osp.exists(path):
            return path
        fallback = _import_dir(package)
        return fallback if fallback is not None else path

    wrapper.__wrapped_by_dms_mm__ = True
    return wrapper


def apply() -> None:
    """Register the ``dms_mm::`` config scope with mmengine. Idempotent."""
    global _APPLIED
    if _APPLIED:
        return
    from mmengine.config import config as config_module
    from mmengine.config.utils import MODULE2PACKAGE

    MODULE2PACKAGE.setdefault(PACKAGE, PACKAGE)
    fn = config_module.get_installed_path
    if not getattr(fn, '__wrapped_by_dms_mm__', False):
        config_module.get_installed_path = _editable_aware(fn)
    _APPLIED = True


def is_applied() -> bool:
    return _APPLIED
