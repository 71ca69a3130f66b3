# syntax=docker/dockerfile:1
#
# CRM/Deals API image. One image, entry point `crm-api`:
#   docker build -t crm-api .
#   docker run --rm -p 8082:8082 crm-api                      # embedded PostgreSQL in /app/.crm-data
#   docker run --rm -e CRM_DATABASE_URL=postgresql://... crm-api crm-api migrate
#   docker run --rm -p 8082:8082 -e CRM_DATABASE_URL=postgresql://... crm-api
# Settings are CRM_-prefixed environment variables; see env.example.
#
# Platform: linux/amd64. pgserver (the embedded PostgreSQL, a main dependency) ships Linux wheels for
# x86_64 only, so on an arm64 host build with `--platform linux/amd64`.
#
# Optional build argument POETRY_PYPI_MIRROR_URL: a PEP 503 simple index Poetry should use instead of
# PyPI (read by poetry-plugin-pypi-mirror, which does nothing when it is empty, the default).

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------------
# builder: Poetry, and the project's main dependencies in an in-project venv at /app/.venv.
# The venv is built at the same path the runtime stage uses, so its scripts' shebangs and the
# editable install's .pth (pointing at /app) stay valid after the copy.
# ---------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    POETRY_NO_INTERACTION=1 \
    POETRY_VIRTUALENVS_CREATE=true \
    POETRY_VIRTUALENVS_IN_PROJECT=true \
    POETRY_CACHE_DIR=/tmp/poetry-cache

# Poetry lives in its own venv, outside the project's (and off PATH, so Poetry builds the project's
# venv from the image's /usr/local/bin/python3.11).
RUN python -m venv /opt/poetry \
 && /opt/poetry/bin/pip install "poetry>=2.1,<3" poetry-plugin-pypi-mirror

WORKDIR /app

# Declared here so that a change of mirror does not invalidate the Poetry layer above. Build arguments
# are in the environment of the RUN steps below; empty means PyPI.
ARG POETRY_PYPI_MIRROR_URL=""

# 1. Dependencies only: this layer changes only with pyproject.toml / poetry.lock.
COPY pyproject.toml poetry.lock ./
RUN /opt/poetry/bin/poetry install --only main --no-root --compile \
 && rm -rf "$POETRY_CACHE_DIR"

# 2. The project itself, as Poetry installs it: an editable install (a .pth pointing at /app and
#    the `crm-api` console script). It needs only the package's presence, not its code, so just
#    crm/__init__.py is copied: code changes do not touch the venv, and the runtime stage copies
#    the source separately. The code's Alembic lookup (project root = parent of crm/) relies on
#    crm being imported from /app/crm rather than from site-packages.
COPY README.md ./
COPY crm/__init__.py ./crm/__init__.py
RUN /opt/poetry/bin/poetry install --only main --compile \
 && rm -rf "$POETRY_CACHE_DIR"

# ---------------------------------------------------------------------------------------------------
# runtime: the venv, the source, the migrations; no Poetry, no build tools; runs as uid 10001.
# ---------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/app/.venv \
    PATH=/app/.venv/bin:$PATH \
    CRM_DATA_DIR=/app/.crm-data \
    XDG_RUNTIME_DIR=/app/.crm-run

# CRM_DATA_DIR holds the embedded PostgreSQL's data (unused when CRM_DATABASE_URL is set); mount a
# volume there to keep it (a bind-mounted host folder must be writable by uid 10001).
# XDG_RUNTIME_DIR (mode 0700, as the XDG spec requires) is where pgserver keeps its lock file;
# without it pgserver falls back to /tmp with a warning on every start.
RUN groupadd --system --gid 10001 crm \
 && useradd --system --uid 10001 --gid crm --home-dir /app --no-create-home --shell /usr/sbin/nologin crm \
 && mkdir -p /app/.crm-data \
 && mkdir -m 0700 /app/.crm-run \
 && chown crm:crm /app/.crm-data /app/.crm-run

WORKDIR /app

# Owned by root and read-only to the service, which can write only to /app/.crm-data and /app/.crm-run.
COPY --from=builder /app/.venv /app/.venv
COPY alembic.ini ./
COPY migrations ./migrations
COPY crm ./crm

EXPOSE 8082

# /healthz: the process is alive (readiness, i.e. database reachable, is /readyz). Follows
# CRM_SERVICE_PORT if it is overridden. The start period allows for the embedded PostgreSQL's first
# initdb and migration.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CRM_SERVICE_PORT', '8082'), timeout=4)"]

USER crm

# Exec form, so crm-api is PID 1 and gets SIGTERM itself: it shuts down and then stops the embedded
# PostgreSQL cleanly. (Under `docker run --init`, crm-api dies from the re-raised signal before it can
# stop it; the server is then killed with the container and recovers on the next start.)
CMD ["crm-api"]
