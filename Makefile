# The two commands a newcomer needs: `make run` and `make test`. Both set up first (idempotent).
.PHONY: setup run test test-unit bench sim clean

PY := .venv/bin/python

setup:
	@bash scripts/setup.sh

run: setup
	@$(PY) -m perpchain.cli tui --localnet

test: setup
	@.venv/bin/ruff check .
	@.venv/bin/mypy
	@$(PY) -m pytest -q

test-unit: setup
	@$(PY) -m pytest -q -m "not integration"

bench: setup
	@$(PY) scripts/bench_all.py

sim: setup
	@$(PY) scripts/sim_all.py

clean:
	rm -rf .data .gen .pytest_cache .ruff_cache
