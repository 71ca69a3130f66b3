#!/usr/bin/env bash
# Installs Poetry (with the PyPI-mirror plugin) into .tools/ and the project's dependencies into .venv/.
# Safe to run again: each step is skipped when it is already done.
# Source it (". scripts/bootstrap.sh") to get POETRY and POETRY_PYPI_MIRROR_URL in the calling shell.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python_bin="${PYTHON:-python3.11}"
command -v "$python_bin" >/dev/null 2>&1 || python_bin=python3

tools_dir="$repo_root/.tools"
POETRY="$tools_dir/bin/poetry"

# Some registries serve only the simple index; Poetry then needs the mirror plugin pointed at pip's
# own default index. On an ordinary machine this is just PyPI and changes nothing.
if [ -z "${POETRY_PYPI_MIRROR_URL:-}" ]; then
  POETRY_PYPI_MIRROR_URL="$("$python_bin" -c 'from pip._internal.models.index import PyPI; print(PyPI.simple_url)')"
fi
export POETRY_PYPI_MIRROR_URL
export POETRY_VIRTUALENVS_IN_PROJECT=true
export POETRY_NO_INTERACTION=1

if [ ! -x "$POETRY" ]; then
  echo "bootstrap: installing Poetry into $tools_dir" >&2
  "$python_bin" -m venv "$tools_dir"
  "$tools_dir/bin/pip" install --quiet --upgrade pip
  "$tools_dir/bin/pip" install --quiet "poetry>=2.1,<3" "poetry-plugin-pypi-mirror>=0.6"
fi

cd "$repo_root"
"$POETRY" env use --quiet "$python_bin" >/dev/null 2>&1 || "$POETRY" env use "$python_bin" >/dev/null
"$POETRY" install --no-interaction --quiet "$@"
# Bytecode for the dependencies and the service: Poetry installs sources only, and where PYTHONDONTWRITEBYTECODE is
# set (as in the Dockerfile and many shells) nothing caches it, so every process compiled them again at start-up:
# about 6 s of CPU for each crm-api or crm-worker (the tests start dozens) instead of under 2. Files already compiled
# are skipped.
"$repo_root/.venv/bin/python" -m compileall -q -j 0 "$repo_root/.venv/lib" "$repo_root/crm"
export POETRY
