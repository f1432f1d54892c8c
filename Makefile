# labserver: the workbook and its tests.
#   make lab      set everything up and open the notebooks in Jupyter Lab
#   make test     unit + integration tests, then the notebooks under nbval
#   make notebooks  rebuild the notebooks from their text sources (notebooks/*.py) and store fresh outputs
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

.PHONY: protobuf venv system-deps docker-deps docker-up docker-down images test test-fast test-unit test-notebooks \
        notebooks check-clean bench fuzz lab walkthrough clean

# The venv is rebuilt when missing or older than requirements.txt or pyproject.toml:
# the exact pins first, then this checkout in editable mode (no sys.path edits anywhere).
venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

# Debian packages the process runtime needs (nginx, busybox, bubblewrap), and jq.
system-deps: venv
	@$(PY) -m labserver.lab.machine.sysdeps process
	@$(PY) -m labserver.lab.machine.sysdeps workbook

# CI and Docker users: Docker's engine and an image builder, from Debian.
docker-deps: venv
	@$(PY) -m labserver.lab.machine.sysdeps docker

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

# The notebooks' sources are the py:percent files beside them (jupytext.toml pairs them):
# take each .ipynb's cells from its .py (outputs kept), then re-execute them all in order
# and store the new outputs. tests/test_notebook_pairs.py fails when a pair is out of sync.
NOTEBOOK_SOURCES := $(wildcard notebooks/[0-9][0-9]-*.py)
notebooks: venv system-deps
	$(VENV)/bin/jupytext --update --to ipynb $(NOTEBOOK_SOURCES)
	$(PY) -m labserver.lab.notebook.walkthrough --in-place

check-clean: venv
	$(PY) -m labserver teardown --check

bench: venv system-deps
	$(PY) tests/bench/run.py

# Issue #13: the OpenAPI-driven fuzz test for FUZZ_SECONDS (CI runs it for 30 s inside `make test`),
# then 200 concurrent clients sending malformed bodies for SOAK_SECONDS (memory must come back).
FUZZ_SECONDS ?= 1800
SOAK_SECONDS ?= 30
fuzz: venv
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(PYTEST) tests/apiserver/test_fuzz.py -p no:randomly -q \
		--timeout=$$(( $(FUZZ_SECONDS) + 600 ))
	$(PY) tests/bench/soak_malformed.py --seconds $(SOAK_SECONDS) --clients 200

# The stored pictures are SVG outputs, which JupyterLab shows only in trusted notebooks
# (or once their cell is run): the workbook's own notebooks are signed as trusted first.
lab: venv system-deps
	@$(VENV)/bin/jupyter trust $(NOTEBOOK_SOURCES:.py=.ipynb) > /dev/null
	@echo "Open the URL Jupyter prints below (bound to 127.0.0.1)."
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --no-browser $(ROOT_FLAG) --notebook-dir=notebooks

walkthrough: venv system-deps
	$(PY) -m labserver.lab.notebook.walkthrough

clean: venv
	$(PY) -m labserver teardown

# The protobuf modules under labserver/apiserver/protobuf/k8s/ are generated from the
# .proto files next to them, and committed. After editing a .proto: make protobuf
protobuf: venv
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m grpc_tools.protoc -I . --python_out=. labserver/apiserver/protobuf/k8s/*.proto
