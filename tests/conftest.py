import os
import os.path as osp
import sys

import pytest
import torch

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


if os.environ.get('PYTEST_XDIST_WORKER'):
    # `make test` runs two test processes on two cores: one thread each, and so is every
    # run they start (tools/train.py and the like inherit this environment). A run left
    # at torch's default of two threads beside the other busy worker oversubscribes the
    # cores: the digits search of test_dms_search.py then ran past its 900 s timeout
    # (CI, 2026-12-02).
    torch.set_num_threads(1)
    os.environ.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')


def pytest_collection_modifyitems(session, config, items):
    """The files of tests/test_tools first (each starts searches through
    tools/train.py, minutes long): `make test` runs the files whole on two
    workers (`--dist loadfile`) in this order, and the longest ones last would
    leave one worker running alone at the end."""
    items.sort(key=lambda item: os.sep + 'test_tools' + os.sep not in str(item.path))
