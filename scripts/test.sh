#!/usr/bin/env bash
# Installs what is needed, checks the code (ruff, mypy, import contracts run as a test) and runs
# the whole test suite against real PostgreSQL: CRM_TEST_DATABASE_URL, else Testcontainers when a
# Docker engine answers, else the local server on 127.0.0.1:5432. Extra arguments go to pytest, after the
# defaults: two pytest-xdist workers, a file at a time in collection order (tests/conftest.py keeps tests/e2e and
# tests/faults together on one); `-n 0` runs everything in this one process instead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check crm tests migrations bench scripts
.venv/bin/ruff format --check crm tests migrations bench scripts
.venv/bin/mypy crm
.venv/bin/python scripts/check_env_example.py
exec .venv/bin/pytest -n 2 --dist loadfile --no-loadscope-reorder "$@"
