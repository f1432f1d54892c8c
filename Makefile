# labserver: the workbook and its tests.
#   make lab      set everything up and open the notebooks in Jupyter Lab
#   make test     unit + integration tests, then the notebooks under nbval
# Everything the tests need is installed by these targets (see .ci/run for CI).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
# Container runtime for the notebooks: process | docker | auto. `make lab` and
# `make walkthrough` default to auto (Docker when an engine answers); the test
# run defaults to process, and CI runs the notebooks again with docker.
LAB_RUNTIME ?= auto
export LAB_RUNTIME
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: venv system-deps docker-deps docker-up docker-down images test test-fast test-unit test-notebooks \
        check-clean bench lab walkthrough clean

# The venv is rebuilt when missing or older than requirements.txt.
venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

# Debian packages the process runtime needs (nginx, busybox, bubblewrap).
system-deps: venv
	@$(PY) -m labserver.lab.sysdeps process

# CI and Docker users: Docker's engine and an image builder, from Debian.
docker-deps: venv
	@$(PY) -m labserver.lab.sysdeps docker

docker-up: docker-deps
	$(PY) -m labserver docker up

docker-down: venv
	$(PY) -m labserver docker down

images: venv
	$(PY) -m labserver images

test: venv system-deps
	$(MAKE) test-unit
	$(MAKE) test-notebooks LAB_RUNTIME=$(if $(filter auto,$(LAB_RUNTIME)),process,$(LAB_RUNTIME))
	$(MAKE) check-clean

test-unit: venv
	$(PYTEST) tests

# The pure tests only: no etcd, API server, kubelet or any other process (see tests/conftest.py).
test-fast: venv
	$(PYTEST) -m "not integration" -q tests

# The notebooks in order, strict (not --nbval-lax), outputs masked by sanitize.cfg.
test-notebooks: venv
	$(PYTEST) --nbval --nbval-sanitize-with notebooks/sanitize.cfg -p no:randomly notebooks/

check-clean: venv
	$(PY) -m labserver teardown --check

bench: venv system-deps
	$(PY) tests/bench/run.py

lab: venv system-deps
	@echo "Open the URL Jupyter prints below (bound to 127.0.0.1)."
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --no-browser $(ROOT_FLAG) --notebook-dir=notebooks

walkthrough: venv system-deps
	$(PY) -m labserver.lab.walkthrough

clean: venv
	$(PY) -m labserver teardown
