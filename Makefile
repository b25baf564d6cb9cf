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

# The LiteRT converter (litert-torch) pulls jax, torchao and transformers and needs an older typing-extensions
# than the main environment pins, so `srkd export --litert` and the tests marked `litert` get a third environment.
LITERT_VENV ?= .venv-litert
LBIN := $(LITERT_VENV)/bin

# NVIDIA GPU machines (experimental): a CUDA 13 torch, then '.[test,gpu]' (never '.[dev]': it brings the CPU
# onnxruntime, which overwrites onnxruntime-gpu's CUDA provider). `make gpu-smoke` runs the GPU smoke script.
GPU_VENV ?= .venv-gpu
GBIN := $(GPU_VENV)/bin
GPU_TORCH_INDEX ?= https://download.pytorch.org/whl/cu130

.PHONY: install install-spandrel install-litert install-gpu demo test test-fast test-spandrel test-litert gpu-smoke clean

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

$(LBIN)/srkd: pyproject.toml constraints.txt
	$(PY) -m venv $(LITERT_VENV)
	$(LBIN)/pip install -q --upgrade pip
	$(LBIN)/pip install -q $(TORCH_PIN)
	grep -vE '^(torch|typing_extensions)==' constraints.txt > $(LITERT_VENV)/constraints.txt
	$(LBIN)/pip install -q -c $(LITERT_VENV)/constraints.txt $(TORCH_PIN) -e '.[dev,litert-convert]'
	touch $(LBIN)/srkd

$(GBIN)/srkd: pyproject.toml constraints.txt
	$(PY) -m venv $(GPU_VENV)
	$(GBIN)/pip install -q --upgrade pip
	$(GBIN)/pip install -q $(TORCH_PIN) --index-url $(GPU_TORCH_INDEX)
	$(GBIN)/pip install -q -c constraints.txt -e '.[test,gpu]'
	touch $(GBIN)/srkd

install: $(BIN)/srkd

install-gpu: $(GBIN)/srkd
	$(GBIN)/srkd doctor --require cuda

gpu-smoke: install-gpu
	$(GBIN)/python benchmarks/gpu_smoke.py --json gpu-smoke.json

install-spandrel: $(SBIN)/srkd

install-litert: $(LBIN)/srkd

demo: install
	$(BIN)/srkd demo

# the spandrel- and litert-marked tests first (each in its own environment), then the whole suite
test: install install-spandrel install-litert
	$(SBIN)/python -m pytest -q -m spandrel
	$(LBIN)/python -m pytest -q -m litert
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

test-spandrel: install-spandrel
	$(SBIN)/python -m pytest -q -m spandrel

test-litert: install-litert
	$(LBIN)/python -m pytest -q -m litert

clean:
	rm -rf $(VENV) $(SPANDREL_VENV) $(LITERT_VENV) $(GPU_VENV) *.egg-info .pytest_cache demo_out
