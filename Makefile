# Shortcuts; each target is also a plain script under scripts/ (see README).
.PHONY: install run test lint migrate bench

install:
	bash scripts/bootstrap.sh

run:
	./scripts/run.sh

test:
	./scripts/test.sh

lint: install
	.venv/bin/ruff check crm tests migrations bench scripts
	.venv/bin/ruff format --check crm tests migrations bench scripts
	.venv/bin/mypy crm
	.venv/bin/lint-imports

migrate: install
	.venv/bin/crm-api migrate

bench: install
	./bench/run.sh
