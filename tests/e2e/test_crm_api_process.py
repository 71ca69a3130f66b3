"""Real ``crm-api`` processes: the embedded default, and an external database that is not migrated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.apps import free_port
from tests.auth import SECRET

pytestmark = pytest.mark.e2e

CRM_API = str(Path(sys.executable).with_name("crm-api"))


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    # No rate limit: the tests' requests all come from one address.
    env.update(CRM_SERVICE_HOST="127.0.0.1", CRM_ACCESS_LOG="false", CRM_RATE_LIMIT_REQUESTS="0", **overrides)
    return env


@contextmanager
def running(env: dict[str, str], cwd: Path, timeout: float = 120) -> Iterator[str]:
    port = env["CRM_SERVICE_PORT"]
    base = f"http://127.0.0.1:{port}"
    log = cwd / f"crm-api-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([CRM_API], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "crm-api did not become ready:\n" + log.read_text()
            time.sleep(0.3)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=60) == 0, log.read_text()
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise


def crm_api_token(env: dict[str, str], cwd: Path, *args: str) -> str:
    """What ``crm-api token`` prints in ``env``."""
    printed = subprocess.run([CRM_API, "token", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert printed.returncode == 0, printed.stderr
    return printed.stdout.strip()


def test_embedded_default_serves_and_keeps_data_across_restarts(tmp_path):
    env = clean_env(CRM_DATA_DIR=str(tmp_path / "data"), CRM_SERVICE_PORT=str(free_port()))
    user = "0b8f3c52-6f0e-4a43-9d7e-6d3f5d1c2a90"
    with running(env, tmp_path) as base:
        assert httpx.get(f"{base}/api/v1/clients", timeout=10).status_code == 401
        # No key configured: the embedded default made a development secret, and `crm-api token` signs with it.
        auth = {"Authorization": f"Bearer {crm_api_token(env, tmp_path, '--sub', user, '--roles', 'admin')}"}
        created = httpx.post(f"{base}/api/v1/clients", json={"name": "Embedded Ltd"}, headers=auth, timeout=10)
        assert created.status_code == 201, created.text
        assert created.json()["created_by_id"] == user
        client_id = created.json()["id"]
        deal = httpx.post(
            f"{base}/api/v1/deals",
            json={"client_id": client_id, "title": "CASCO", "next_review_at": "2026-12-01"},
            headers=auth,
            timeout=10,
        )
        assert deal.status_code == 201, deal.text
    assert "crm-api token --sub" in (tmp_path / f"crm-api-{env['CRM_SERVICE_PORT']}.log").read_text()
    assert (tmp_path / "data" / "jwt-development-secret").stat().st_mode & 0o777 == 0o600
    # SIGTERM stopped the embedded server too, not only crm-api.
    assert not (tmp_path / "data" / "pgdata" / "postmaster.pid").exists()
    with running(env, tmp_path) as base:
        # The same secret after a restart: the token still verifies.
        again = httpx.get(f"{base}/api/v1/clients/{client_id}", headers=auth, timeout=10)
        assert again.status_code == 200
        assert again.json()["name"] == "Embedded Ltd"
        assert len(httpx.get(f"{base}/api/v1/deals", headers=auth, timeout=10).json()["items"]) == 1


def test_unmigrated_database_is_refused_until_migrated(tmp_path, make_database):
    url = make_database("crm_e2e_unmigrated")
    env = clean_env(CRM_DATABASE_URL=url, CRM_SERVICE_PORT=str(free_port()), CRM_JWT_ACCESS_SECRET=SECRET)
    refused = subprocess.run([CRM_API], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "crm-api migrate" in refused.stderr
    migrated = subprocess.run([CRM_API, "migrate"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    with running(env, tmp_path) as base:
        assert httpx.get(f"{base}/readyz", timeout=5).json()["components"]["database"]["ok"] is True
