# `make test-wheel`: the install tested as users get it (included from the Makefile; uses its PYTHON, PY,
# STAMP). Builds the sdist and the wheel from it, checks the package data is in both, installs the wheel
# into fresh virtualenvs under build/wheel (no extras; [serve]) and runs digitlab there from outside the
# checkout. One PASS/FAIL line per check, then `wheel: N passed, M failed`; fails if any check failed.
WHEEL_BUILD ?= build/wheel

.PHONY: test-wheel clean-wheel

test-wheel: $(STAMP)
	$(PYTHON) mk/wheel_check.py --python $(PYTHON) --build-python $(PY) --work $(WHEEL_BUILD)

clean-wheel:
	rm -rf $(WHEEL_BUILD)
