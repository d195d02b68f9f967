# The two commands of the README: `make demo` and `make test`.
#
# Everything is installed from the committed lock (uv.lock) with uv, so a fresh clone installs
# exactly what passed CI. Any Python 3.11-3.13 works: PYTHON names it (default python3), e.g.
# `make test PYTHON=python3.13`. VENV names the environment (default .venv).
PYTHON     ?= python3
VENV       ?= .venv
UV_VERSION  = 0.13.9
TOOLS       = .tools
UV          = $(TOOLS)/bin/uv
BIN         = $(VENV)/bin
# uv must neither download a Python of its own nor re-resolve: the lock is the truth.
SYNC        = UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never $(UV) sync --frozen \
              --python "$$($(PYTHON) -c 'import sys; print(sys.executable)')"

.PHONY: demo test install bench lock clean check-python

check-python:
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v <= (3, 13) else f"tierbot needs Python 3.11, 3.12 or 3.13, but $(PYTHON) is {sys.version.split()[0]}: run make with PYTHON=python3.13 (or 3.11, 3.12)")' \
	  || { echo "tierbot needs Python 3.11-3.13: set PYTHON to one, e.g. make PYTHON=python3.12 $(MAKECMDGOALS)" >&2; exit 1; }

$(UV): | check-python
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

install: check-python $(UV)
	$(SYNC) --extra test

# Create the environment, load the demo book into SQLite, score it, and open the console.
# `demo --reset` replaces only an earlier demo book: it refuses (and the target stops, data
# intact) when the database holds anything else, e.g. an imported CRM book. Never --force here.
demo: install
	$(BIN)/tierbot init
	$(BIN)/tierbot demo --reset
	$(BIN)/tierbot score
	$(BIN)/tierbot console

# Create the environment and run the whole test suite
# (PostgreSQL too when TIERBOT_TEST_POSTGRES_URL is set).
test: install
	$(BIN)/python -m pytest -q

bench: check-python $(UV)
	$(SYNC) --extra test --extra bench
	$(BIN)/python bench/import_orders.py
	$(BIN)/python bench/score.py
	$(BIN)/python bench/lookup.py
	$(BIN)/python bench/slack_ack.py
	$(BIN)/python bench/digest.py

# Refresh the lock after changing dependencies in pyproject.toml (then commit uv.lock).
lock: check-python $(UV)
	$(UV) lock --upgrade

clean:
	rm -rf $(VENV) $(TOOLS) tierbot.db tierbot.db-wal tierbot.db-shm
