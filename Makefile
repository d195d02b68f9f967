# The two commands of the README: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Create the environment, load the demo book into SQLite, score it, and open the console.
demo: $(STAMP)
	$(BIN)/tierbot init
	$(BIN)/tierbot demo --reset
	$(BIN)/tierbot score
	$(BIN)/tierbot console

# Create the environment and run the whole test suite
# (PostgreSQL too when TIERBOT_TEST_POSTGRES_URL is set).
test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/import_orders.py
	$(BIN)/python bench/score.py
	$(BIN)/python bench/lookup.py
	$(BIN)/python bench/slack_ack.py
	$(BIN)/python bench/digest.py

clean:
	rm -rf $(VENV) tierbot.db tierbot.db-wal tierbot.db-shm
