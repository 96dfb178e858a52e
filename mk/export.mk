# Deploy paths (docs/deploy.md): build and run the C++ (libtorch) and C programs on the MNIST test set.
# Included by the Makefile (uses its VENV, PY and STAMP). The tests in tests/test_export_programs.py do the
# same with freshly trained models; these targets run a model of yours:
#   make deploy-cpp EXPORT_MODEL=runs/my-run      any torch model, via TorchScript
#   make deploy-c   C_MODEL=runs/my-lenet         lenet-lite or an MLP, via the integer-only C export
EXPORT_MODEL ?= default
C_MODEL      ?= $(EXPORT_MODEL)
EXPORT_BUILD ?= build/export
CC           ?= cc
EXPORT_IDX   := $(EXPORT_BUILD)/mnist
TEST_IDX     := $(EXPORT_IDX)/t10k-images-idx3-ubyte $(EXPORT_IDX)/t10k-labels-idx1-ubyte
CPP_BUILD    := $(EXPORT_BUILD)/cpp
DIGITLAB     := $(VENV)/bin/digitlab

.PHONY: deploy-idx deploy-cpp-build deploy-cpp deploy-c deploy-programs

# Uncompressed IDX files: both programs read them directly.
deploy-idx: $(EXPORT_IDX)/t10k-images-idx3-ubyte

$(EXPORT_IDX)/t10k-images-idx3-ubyte: | $(STAMP)
	$(DIGITLAB) data export --format idx --out $(EXPORT_IDX)

# libtorch comes from the installed torch wheel; -O2 (set in CMakeLists.txt).
deploy-cpp-build: $(STAMP)
	cmake -S examples/cpp -B $(CPP_BUILD) -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_PREFIX_PATH="$$($(PY) -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
	cmake --build $(CPP_BUILD)

deploy-cpp: deploy-cpp-build deploy-idx
	$(DIGITLAB) export $(EXPORT_MODEL) --format torchscript --out $(EXPORT_BUILD)/model.torchscript.pt --check
	$(CPP_BUILD)/mnist_torchscript $(EXPORT_BUILD)/model.torchscript.pt $(TEST_IDX)

deploy-c: deploy-idx
	$(DIGITLAB) export $(C_MODEL) --format c --out $(EXPORT_BUILD)/c --check
	$(CC) -std=c99 -O2 -Wall -Wextra -pedantic -o $(EXPORT_BUILD)/mnist_c \
	  $(EXPORT_BUILD)/c/main.c $(EXPORT_BUILD)/c/digitlab_model.c
	$(EXPORT_BUILD)/mnist_c $(TEST_IDX)

deploy-programs: deploy-cpp deploy-c
