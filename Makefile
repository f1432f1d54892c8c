# labserver: the workbook and its tests.
#   make lab      set everything up and open the notebooks in Jupyter Lab
#   make test     unit + integration tests, and beside them the notebooks under nbval
#   make notebooks  rebuild the notebooks from their text sources (notebooks/*.py) and store fresh outputs
#   make test-nonroot  (as root, CI) the non-root paths: preflight refuses, the Docker group runs it all
# Everything the tests need is installed by these targets (see .ci/run for CI).

# The interpreter .venv is made with: the system's /usr/bin/python3 when it is 3.10 or newer and has
# venv (Debian and Ubuntu build theirs with profile-guided optimisation: on the 2-core CI machine the
# suite's processes ran 25% faster in pure Python than on a plain pyenv build, make test 11% faster),
# else the first python3 on PATH. `make venv PYTHON=python3.12` chooses another.
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell /usr/bin/python3 -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 10))' \
            2>/dev/null && echo /usr/bin/python3 || echo python3)
endif
VENV   := .venv
PY     := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
# Container runtime for the notebooks: process | docker | auto. `make lab` and
# `make walkthrough` default to auto (Docker when an engine answers); the test
# run defaults to process, and CI runs the notebooks again with docker.
LAB_RUNTIME ?= auto
export LAB_RUNTIME
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: protobuf venv venv-lab system-deps test-nonroot docker-deps docker-up docker-down images test test-fast test-unit test-notebooks test-notebooks-in-test test-fixed-ports \
        notebooks check-clean bench fuzz fuzz-requests lab walkthrough clean test-devcontainer test-registry

# The venv is rebuilt when missing or older than its requirements or pyproject.toml:
# the exact pins first, then this checkout in editable mode (no sys.path edits anywhere).
# venv-lab: what the workbook needs (requirements-lab.txt); venv: that and the tests'
# (requirements-test.txt). `make lab` needs only the first.
# PIP_FLAGS: extra pip options, e.g. a room without Internet: PIP_FLAGS="--no-index --find-links wheels/"
PIP_FLAGS ?=
venv-lab: $(VENV)/.installed-lab
$(VENV)/.installed-lab: requirements-lab.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip $(PIP_FLAGS)
	$(PY) -m pip install --quiet -r requirements-lab.txt $(PIP_FLAGS)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: $(VENV)/.installed-lab requirements-test.txt requirements.txt
	$(PY) -m pip install --quiet -r requirements.txt $(PIP_FLAGS)
	@touch $@

# Debian packages the process runtime needs (nginx, busybox, bubblewrap), and jq.
system-deps: venv-lab
	@$(PY) -m labserver.lab.machine.sysdeps process
	@$(PY) -m labserver.lab.machine.sysdeps workbook

# CI and Docker users: Docker's engine and an image builder, from Debian.
docker-deps: venv-lab
	@$(PY) -m labserver.lab.machine.sysdeps docker

docker-up: docker-deps
	$(PY) -m labserver docker up

docker-down: venv-lab
	$(PY) -m labserver docker down

images: venv-lab
	$(PY) -m labserver images

# The tests and the notebooks run side by side (most of either is waiting), each target's output
# printed whole when it ends. Both walks through the notebooks (nbval, then their shell commands
# in a plain bash) use the post's fixed ports, so they run one after the other, beside the tests.
test: venv system-deps
	@echo "make test: the tests and the notebooks run side by side; each prints its report when it ends (about 2 min 45 s on 2 cores)"
	@$(MAKE) -j2 --output-sync=target test-unit test-notebooks-in-test
	$(MAKE) check-clean

test-notebooks-in-test: venv
	$(MAKE) test-notebooks test-fixed-ports LAB_RUNTIME=$(if $(filter auto,$(LAB_RUNTIME)),process,$(LAB_RUNTIME))

# In parallel (pytest-xdist), TEST_WORKERS processes: the suite mostly waits (pods starting, grace
# periods, polls). --dist loadgroup with the groups tests/conftest.py gives: one module (and its etcd) per
# worker at a time, the tests on the checkout's own lab one after another; the long poles first.
# 6 on 2 cores: 196 s against 218 s with 4 (the CPU is busy about 75% of the run, the rest is waiting).
# TEST_WORKERS=0 runs them in this one process, as a plain `pytest tests` does.
TEST_WORKERS ?= 6
# The suite starts about a thousand component processes: labserver is byte-compiled first, so
# none compiles it again (with PYTHONDONTWRITEBYTECODE set, each would: ~0.1 s of CPU per start).
# pytest caches its assertion-rewritten test modules only where bytecode may be written: without
# the cache every worker recompiles all of tests/ (collection 7.9 s of CPU instead of 3.5 s).
# nbval's plugin is left out (-p no:nbval): no test here runs a notebook under it, and loading it
# imports nbformat and jsonschema's format checkers, about 1 s of CPU in every worker.
test-unit: venv
	@$(PY) -m compileall -q labserver
	env -u PYTHONDONTWRITEBYTECODE $(PYTEST) -n $(TEST_WORKERS) -p no:nbval --dist loadgroup --no-loadscope-reorder \
	    -m "not posts_ports" tests

# The pure tests only: no etcd, API server, kubelet or any other process (see tests/conftest.py).
test-fast: venv
	$(PYTEST) -m "not integration" -q tests

# The notebooks in order, strict (not --nbval-lax), outputs masked by sanitize.cfg.
test-notebooks: venv
	$(PYTEST) --nbval --nbval-sanitize-with notebooks/sanitize.cfg -p no:randomly notebooks/

# The tests on the post's fixed ports (marker posts_ports, tests/conftest.py), one after another: the
# notebooks walked again with every `!` command run in a plain bash with only .lab/env.sh (as the
# README tells a reader to) and each exercise's check run before and after its solution; the post's
# `docker run` of etcd. On the runtime LAB_RUNTIME picks: `make test` runs them after the notebooks,
# with process; CI again with docker.
test-fixed-ports: venv
	$(PYTEST) -p no:randomly -p no:nbval -m posts_ports tests

# The notebooks' sources are the py:percent files beside them (jupytext.toml pairs them):
# take each .ipynb's cells from its .py (outputs kept), then re-execute them all in order
# and store the new outputs. tests/test_notebook_pairs.py fails when a pair is out of sync.
NOTEBOOK_SOURCES := $(wildcard notebooks/[0-9][0-9]-*.py)
notebooks: venv system-deps
	$(VENV)/bin/jupytext --update --to ipynb $(NOTEBOOK_SOURCES)
	$(PY) -m labserver.lab.notebook.walkthrough --in-place

# Issue #10, as root (CI): a plain user (labuser) with its own copy and venv; with the process
# runtime and unprivileged ports from 1024 preflight must refuse (and a pod's wait stop with
# nginx's bind error); in the docker group with LAB_RUNTIME=docker the notebooks pass (.ci/nonroot).
test-nonroot: venv
	.ci/nonroot

check-clean: venv-lab
	$(PY) -m labserver teardown --check

# Issue #10: the dev container (.devcontainer/), built, started and used by the real Dev
# Containers CLI on the lab's Docker engine; the notebooks run under nbval inside it.
DEVCONTAINER_CLI_VERSION := 0.89.0
test-devcontainer: venv
	$(PY) tests/devcontainer/run.py --cli-version $(DEVCONTAINER_CLI_VERSION)

# Issue #10: the online image path, tested offline. The images `make images` built are pushed
# into Debian's docker-registry on loopback; a second, empty engine (mirror: that registry)
# must pull them in `make images`, and the kubelet again in the notebooks (LAB_RUNTIME=docker).
test-registry: venv docker-deps
	@$(PY) -m labserver.lab.machine.sysdeps registry
	$(PY) tests/registry/run.py

bench: venv system-deps
	$(PY) tests/bench/run.py

# Issue #13: the OpenAPI-driven fuzz test for FUZZ_SECONDS (`make test` runs it for 10 s; CI for 60 s more,
# with `make fuzz-requests`), then 200 concurrent clients sending malformed bodies for SOAK_SECONDS
# (memory must come back within 10%: it came back to 100-107% in two CI dry runs, 111% in a third).
FUZZ_SECONDS ?= 1800
SOAK_SECONDS ?= 30
fuzz: fuzz-requests
	$(PY) tests/bench/soak_malformed.py --seconds $(SOAK_SECONDS) --clients 200

fuzz-requests: venv
	FUZZ_SECONDS=$(FUZZ_SECONDS) $(PYTEST) tests/apiserver/test_fuzz.py -p no:randomly -q \
		--timeout=$$(( $(FUZZ_SECONDS) + 600 ))

# The stored pictures are SVG outputs, which JupyterLab shows only in trusted notebooks
# (or once their cell is run): the workbook's own notebooks are signed as trusted first.
lab: venv-lab system-deps
	@$(VENV)/bin/jupyter trust $(NOTEBOOK_SOURCES:.py=.ipynb) > /dev/null
	@echo "Open the URL Jupyter prints below (bound to 127.0.0.1)."
	$(VENV)/bin/jupyter lab --ip=127.0.0.1 --no-browser $(ROOT_FLAG) --notebook-dir=notebooks

walkthrough: venv-lab system-deps
	$(PY) -m labserver.lab.notebook.walkthrough

clean: venv-lab
	$(PY) -m labserver teardown

# The protobuf modules under labserver/apiserver/protobuf/k8s/ are generated from the
# .proto files next to them, and committed. After editing a .proto: make protobuf
protobuf: venv
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m grpc_tools.protoc -I . --python_out=. labserver/apiserver/protobuf/k8s/*.proto
