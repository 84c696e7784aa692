import os.path as osp
import sys

import pytest

import dms_mm  # noqa: F401  (first: its compat fixes let mmrazor import on torch 2)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# the benchmarks (`from benchmarks import compare`) are tested from the checkout
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


@pytest.fixture(scope='session')
def repo_root():
    """The checkout's root folder (configs/ and tools/ live there)."""
    return REPO_ROOT


@pytest.fixture(scope='session')
def python_exe():
    """The interpreter running the tests (the one in .venv under make test)."""
    return sys.executable
