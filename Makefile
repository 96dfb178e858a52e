# The README's two commands: `make run` and `make test`. Each creates .venv if missing,
# installs what is missing (a stamp file makes this a no-op when nothing changed), then does its job.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q
STAMP  := $(VENV)/.digitlab-installed
CONSTRAINTS := requirements/constraints.txt

EXTRAS ?= dev,quantum,export,hls,serve,notebooks,scale

.PHONY: run test lint setup clean-venv system-data browser

run: $(STAMP)
	$(VENV)/bin/digitlab main

test: $(STAMP) system-data browser
	$(PY) -m pytest -q

# Debian's Fashion-MNIST for the tests that read real Fashion-MNIST; where it cannot be installed they skip.
system-data:
	@[ -d /usr/share/datasets/fashion-mnist ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist) \
		>/dev/null 2>&1; } || echo "note: dataset-fashion-mnist not installed; the Fashion-MNIST tests will skip"

# Debian's Chromium for the drawing page's browser test (Playwright drives it); where it cannot be installed
# that test skips, saying why.
browser:
	@[ -x /usr/bin/chromium ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		>/dev/null 2>&1; } || echo "note: chromium not installed; the browser test will skip"

lint: $(STAMP)
	$(VENV)/bin/ruff check .

setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first and pinned, so nothing later can resolve it to a CUDA build.
$(STAMP): pyproject.toml $(CONSTRAINTS) | $(PY)
	$(PIP) install -c $(CONSTRAINTS) torch
	$(PIP) install -c $(CONSTRAINTS) -e ".[$(EXTRAS)]"
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)

# Optional parts (export toolchains, the QuTrunk sandbox, browser tests) keep their targets in mk/.
-include mk/*.mk
