#!/usr/bin/env bash
# Installs what is needed and starts crm-api. Without CRM_DATABASE_URL it runs on an embedded
# PostgreSQL kept in CRM_DATA_DIR (default ./.crm-data). Extra arguments go to crm-api.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/bootstrap.sh --only main
exec .venv/bin/crm-api "$@"
