"""``crm-api token``: a development access token, signed with what crm-api checks tokens with."""

from __future__ import annotations

import os
import time

import jwt
import pytest

from crm.app.cli import main
from crm.domain.caller import Role
from crm.infrastructure.auth.tokens import JwtVerifier
from tests.auth import SECRET
from tests.jwks_stub import SigningKey

USER = "0b8f3c52-6f0e-4a43-9d7e-6d3f5d1c2a90"


@pytest.fixture
def shell(monkeypatch, tmp_path):
    """``crm-api`` as run from an empty folder with no CRM_ variable set, leaving the test run's logging alone."""
    monkeypatch.chdir(tmp_path)
    for name in [name for name in os.environ if name.startswith("CRM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setattr("crm.app.cli.configure_logging", lambda _settings: None)
    return monkeypatch


def printed_token(capsys, *args: str) -> str:
    assert main(["token", *args]) == 0
    return capsys.readouterr().out.strip()


async def test_the_token_printed_verifies_with_the_configured_secret(shell, capsys):
    shell.setenv("CRM_JWT_ACCESS_SECRET", SECRET)
    shell.setenv("CRM_DATABASE_URL", "postgresql://db/crm")
    printed = printed_token(
        capsys, "--sub", USER, "--roles", "admin,ROLE_SELLER", "--email", "anna@broker.example", "--ttl-minutes", "5"
    )
    verified = await JwtVerifier(secret=SECRET.encode()).verify(printed)
    assert (str(verified.subject), verified.roles, verified.email) == (
        USER,
        frozenset({Role.ADMIN, Role.SELLER}),
        "anna@broker.example",
    )
    assert abs(verified.expires_at - (time.time() + 300)) < 10


def test_the_token_carries_the_configured_issuer_and_audience(shell, capsys):
    for name, value in {"ACCESS_SECRET": SECRET, "ISSUER": "https://auth.example", "AUDIENCE": "crm"}.items():
        shell.setenv(f"CRM_JWT_{name}", value)
    printed = printed_token(capsys, "--sub", USER, "--roles", "manager")
    claims = jwt.decode(printed, SECRET, algorithms=["HS256"], audience="crm", issuer="https://auth.example")
    assert claims["roles"] == ["manager"]


async def test_on_the_embedded_default_it_signs_with_the_development_secret_kept_in_the_data_dir(
    shell, capsys, tmp_path
):
    shell.setenv("CRM_DATA_DIR", str(tmp_path / "data"))
    first = printed_token(capsys, "--sub", USER, "--roles", "admin")
    secret_file = tmp_path / "data" / "jwt-development-secret"
    assert secret_file.stat().st_mode & 0o777 == 0o600
    secret = secret_file.read_text().strip()
    assert len(secret) >= 32
    assert secret not in first
    second = printed_token(capsys, "--sub", USER, "--roles", "user")
    verifier = JwtVerifier(secret=secret.encode())
    assert (await verifier.verify(first)).roles == {Role.ADMIN}
    assert (await verifier.verify(second)).roles == {Role.USER}


@pytest.mark.parametrize("database_url", [None, "postgresql://db/crm"], ids=["embedded", "external"])
def test_it_refuses_when_only_a_public_key_is_configured(shell, capsys, database_url):
    shell.setenv("CRM_JWT_PUBLIC_KEY", SigningKey().public_pem)
    if database_url:
        shell.setenv("CRM_DATABASE_URL", database_url)
    assert main(["token", "--sub", USER, "--roles", "admin"]) == 2
    assert "CRM_JWT_ACCESS_SECRET" in capsys.readouterr().err


def test_it_refuses_with_no_key_and_an_external_database(shell, capsys):
    shell.setenv("CRM_DATABASE_URL", "postgresql://db/crm")
    assert main(["token", "--sub", USER, "--roles", "admin"]) == 2


@pytest.mark.parametrize(
    "args",
    [["--sub", "alice", "--roles", "admin"], ["--sub", USER, "--roles", "admin,wizard"], ["--sub", USER]],
    ids=["sub-not-a-uuid", "unknown-role", "no-roles"],
)
def test_a_bad_argument_is_refused(shell, capsys, args):
    shell.setenv("CRM_JWT_ACCESS_SECRET", SECRET)
    with pytest.raises(SystemExit) as exit_:
        main(["token", *args])
    assert exit_.value.code == 2


def test_crm_api_refuses_to_serve_with_authentication_on_and_no_key(shell, capsys):
    shell.setenv("CRM_DATABASE_URL", "postgresql://db/crm")
    assert main([]) == 2
    refusal = capsys.readouterr().err
    assert "CRM_JWT_ACCESS_SECRET" in refusal and "CRM_AUTH_DISABLED" in refusal
