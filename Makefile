# Two entry points for a fresh machine: `make demo` (the main job) and `make test` (what CI runs).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0
# The optional spandrel extra imports torchvision, and no PyPI torchvision imports beside the CPU-only
# torch 2.13.0; its tests run in a second environment with a pair that does (CUDA builds, fine on CPU).
SPANDREL_VENV ?= .venv-spandrel
SBIN := $(SPANDREL_VENV)/bin
SPANDREL_TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: install install-spandrel demo test test-fast test-spandrel clean

$(BIN)/srkd: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH_PIN)
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	touch $(BIN)/srkd

$(SBIN)/srkd: pyproject.toml constraints.txt
	$(PY) -m venv $(SPANDREL_VENV)
	$(SBIN)/pip install -q --upgrade pip
	$(SBIN)/pip install -q $(SPANDREL_TORCH)
	grep -v '^torch==' constraints.txt > $(SPANDREL_VENV)/constraints.txt
	$(SBIN)/pip install -q -c $(SPANDREL_VENV)/constraints.txt -e '.[dev,spandrel]'
	touch $(SBIN)/srkd

install: $(BIN)/srkd

install-spandrel: $(SBIN)/srkd

demo: install
	$(BIN)/srkd demo

# the spandrel-marked tests first (in their own environment), then the whole suite
test: install install-spandrel
	$(SBIN)/python -m pytest -q -m spandrel
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

test-spandrel: install-spandrel
	$(SBIN)/python -m pytest -q -m spandrel

clean:
	rm -rf $(VENV) $(SPANDREL_VENV) *.egg-info .pytest_cache demo_out
