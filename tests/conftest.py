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
    # `make test` runs two test processes on two cores: one thread each, as the
    # end-to-end runs they start (OMP_NUM_THREADS=1 in dms_search_runs.env)
    torch.set_num_threads(1)
