# The notebooks (notebooks/*.py, jupytext percent format, are the source of truth; the .ipynb beside each is
# generated and committed with its outputs). Included by the Makefile (uses its VENV, PY and STAMP).
#   make notebooks               regenerate every .ipynb and execute it in full mode (minutes)
#   make notebooks NB=05         only those whose name starts with 05;  NB_FAST=1: DIGITLAB_FAST=1
#   make lab                     JupyterLab on notebooks/, its kernel the project's virtualenv
# CI runs every notebook in fast mode through tests/test_notebooks.py (part of `make test`).
NB      ?=
NB_FAST ?=

.PHONY: notebooks lab

notebooks: $(STAMP)
	$(PY) notebooks/build.py $(if $(NB_FAST),--fast) $(NB)

# The venv's own ipykernel is the "python3" kernel JupyterLab finds when it runs from the venv.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks
