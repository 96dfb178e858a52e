# `make gpu-check`: digitlab's CUDA paths on a CUDA machine, a few minutes (benchmarks/gpu_check.py; included
# from the Makefile). Trains `cnn` to 99% timed against the anchor recipe in the same process, one bf16 epoch
# of `recognizer`, ONNX export of the CUDA-trained model with its check, one request served on CUDA; figures in
# $(GPU_OUT). Exits 2 where there is no CUDA device; `make test` never needs it. It uses .venv when there is one
# (a CUDA build of torch must be in it), else python3, with the checkout's src/ on the path:
#   make gpu-check GPU_PYTHON=python3 GPU_ARGS="--data-dir /path/to/cache"    an offline machine with MNIST cached
#   make gpu-check GPU_ARGS="--device cpu --quick"                            the dry run (seconds, no GPU)
GPU_PYTHON ?= $(if $(wildcard $(PY)),$(PY),python3)
GPU_OUT    ?= build/gpu-check.json
GPU_ARGS   ?=

.PHONY: gpu-check

gpu-check:
	PYTHONPATH=src$${PYTHONPATH:+:$$PYTHONPATH} $(GPU_PYTHON) benchmarks/gpu_check.py --out $(GPU_OUT) $(GPU_ARGS)
