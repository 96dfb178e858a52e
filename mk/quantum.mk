# `make test-qutrunk`: the QuTrunk adapter's tests in a throw-away virtualenv (included from the Makefile).
# QuTrunk 0.1.11 pins numpy<2 and a retworkx that no longer builds; it runs when installed with --no-deps
# next to the few packages it really imports, numpy 1.26 and the pinned torch (docs/hybrid.md).
# Where the virtualenv cannot be built (no network, no wheels) the target says so and skips; test failures fail.
PYTHON        ?= python3
CONSTRAINTS   ?= requirements/constraints.txt
QUTRUNK_VENV  ?= .venv-qutrunk
QUTRUNK_PY    := $(QUTRUNK_VENV)/bin/python
QUTRUNK_PIP   := $(QUTRUNK_PY) -m pip --disable-pip-version-check -q
QUTRUNK_STAMP := $(QUTRUNK_VENV)/.qutrunk-installed
QUTRUNK_DEPS  := "numpy==1.26.*" "networkx<3" ply pyyaml "thrift==0.15.0" six requests pytest

.PHONY: test-qutrunk clean-qutrunk

test-qutrunk:
	@if $(MAKE) --no-print-directory $(QUTRUNK_STAMP); then \
		PYTHONPATH=src $(QUTRUNK_PY) -m pytest -q -p no:cacheprovider tests/test_quantum_qutrunk.py; \
	else \
		echo "SKIPPED test-qutrunk: the QuTrunk virtualenv $(QUTRUNK_VENV) could not be built (pip output above)"; \
	fi

$(QUTRUNK_STAMP): $(CONSTRAINTS) mk/quantum.mk
	rm -rf $(QUTRUNK_VENV)
	$(PYTHON) -m venv $(QUTRUNK_VENV)
	$(QUTRUNK_PIP) install -c $(CONSTRAINTS) torch $(QUTRUNK_DEPS)
	$(QUTRUNK_PIP) install --no-deps qutrunk==0.1.11
	$(QUTRUNK_PY) -c "import qutrunk.circuit"
	touch $@

clean-qutrunk:
	rm -rf $(QUTRUNK_VENV)
