# Two commands on a fresh machine with Python 3 and make:  make demo   /   make test
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.ffrflow-installed
EXTRAS ?= test,meshing,cluster
DEMO_OUT ?= ffrflow-demo

.PHONY: demo test install bench clean

$(STAMP): setup.py pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	$(VENV)/bin/ffrflow warmup
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ffrflow demo -o $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m benchmarks steady

clean:
	rm -rf $(VENV) $(DEMO_OUT) build *.egg-info
