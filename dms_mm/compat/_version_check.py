"""Version bookkeeping shared by the compat fixes.

Every fix in :mod:`dms_mm.compat` declares ``FIXED_FOR``: a mapping from a
distribution name to the version range the fix was written and tested for.
:func:`check_fixed_for` tells whether the installed versions are still in
range, so that ``tests/test_compat`` fails loudly when an upgrade moves a
package outside it and the fix must be revisited.
"""
from importlib import metadata
from typing import Dict, List

from packaging.specifiers import SpecifierSet
from packaging.version import Version


def installed_version(distribution: str) -> str:
    """Return the installed version of ``distribution``.

    Args:
        distribution (str): The name of the distribution, e.g. ``'mmengine'``.

    Returns:
        str: Its version, without a local part (``2.13.0+cu130`` -> ``2.13.0``).
    """
    return Version(metadata.version(distribution)).public


def check_fixed_for(fixed_for: Dict[str, str]) -> List[str]:
    """List the packages whose installed version is outside a fix's range.

    Args:
        fixed_for (dict[str, str]): Distribution name -> specifier set, as in
            ``{'mmengine': '>=0.10.0,<0.11.0'}``.

    Returns:
        list[str]: One message per package out of range, empty if all are in.
    """
    problems = []
    for distribution, spec in fixed_for.items():
        try:
            version = installed_version(distribution)
        except metadata.PackageNotFoundError:
            problems.append(f'{distribution} is not installed')
            continue
        if version not in SpecifierSet(spec, prereleases=True):
            problems.append(
                f'{distribution}=={version} is outside {distribution}{spec}')
    return problems
