import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from crm.app.config import AuthNotConfigured, Settings
from crm.app.main import create_app
from tests.jwks_stub import SigningKey


def test_only_crm_prefixed_variables_are_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("CRM_SERVICE_PORT=9000\nDATABASE_URL=postgresql://ignored\nOTHER=1\n")
    monkeypatch.setenv("SERVICE_PORT", "1234")
    settings = Settings()
    assert settings.service_port == 9000
    assert settings.database_url is None


def test_environment_wins_over_dotenv(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("CRM_SERVICE_PORT=9000\n")
    monkeypatch.setenv("CRM_SERVICE_PORT", "9100")
    assert Settings().service_port == 9100


def test_defaults(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert (settings.service_host, settings.service_port) == ("0.0.0.0", 8082)
    assert str(settings.data_dir) == ".crm-data"
    assert settings.business_timezone == "Europe/Moscow"


def test_unknown_time_zone_is_refused(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRM_BUSINESS_TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValidationError):
        Settings()


# --- authentication settings ---------------------------------------------------------------------


def settings_of(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_an_hs256_secret_shorter_than_32_bytes_is_refused_without_being_echoed():
    short = "s3cret-but-only-29-bytes-long"
    with pytest.raises(ValidationError) as refused:
        settings_of(jwt_access_secret=short)
    assert "at least 32 bytes" in str(refused.value)
    assert short not in str(refused.value)


def test_the_secret_is_never_shown_by_the_settings():
    secret = "a-secret-that-is-long-enough-for-hs256-0123456789"
    settings = settings_of(jwt_access_secret=secret)
    assert secret not in repr(settings) and secret not in str(settings)
    assert secret not in settings.model_dump_json()


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("not a key", "is not a PEM public key"),
        (SigningKey(bits=1024).public_pem, "at least 2048 bits"),
        (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode(),
            "must be an RSA public key",
        ),
    ],
    ids=["garbage", "short-rsa", "ec"],
)
def test_a_public_key_that_is_not_an_rsa_key_of_2048_bits_is_refused(key, message):
    with pytest.raises(ValidationError, match=message):
        settings_of(jwt_public_key=key)


def test_a_public_key_on_one_line_with_escaped_line_breaks_is_read():
    pem = SigningKey().public_pem
    assert settings_of(jwt_public_key=pem.replace("\n", "\\n")).jwt_public_key == pem.strip()


def test_a_jwks_url_must_be_http():
    with pytest.raises(ValidationError):
        settings_of(jwt_jwks_url="file:///etc/passwd")


def test_authentication_on_with_no_key_refuses_to_start():
    with pytest.raises(AuthNotConfigured, match="CRM_JWT_ACCESS_SECRET"):
        settings_of(database_url="postgresql://db/crm").require_token_keys()


@pytest.mark.parametrize(
    "values",
    [
        {"jwt_access_secret": "x" * 32},
        {"jwt_public_key": SigningKey().public_pem},
        {"jwt_jwks_url": "https://auth.example/jwks.json"},
        {"auth_disabled": True},
    ],
    ids=["secret", "public-key", "jwks", "disabled"],
)
def test_any_key_or_disabled_authentication_lets_it_start(values):
    settings_of(database_url="postgresql://db/crm", **values).require_token_keys()


async def test_the_app_does_not_start_with_authentication_on_and_no_key():
    app = create_app(settings_of(database_url="postgresql://unused/unused"))
    with pytest.raises(AuthNotConfigured):
        async with app.router.lifespan_context(app):
            pass


def test_the_http_edge_defaults_are_production_ones(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.cors_origins == ()
    assert settings.max_body_bytes == 1_048_576
    assert (settings.rate_limit_requests, settings.rate_limit_window_seconds) == (600, 60.0)


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        ("https://crm.example", ("https://crm.example",)),
        ("https://crm.example, http://localhost:5173", ("https://crm.example", "http://localhost:5173")),
        (
            '["https://crm.example", "https://admin.crm.example:8443"]',
            ("https://crm.example", "https://admin.crm.example:8443"),
        ),
        ("*", ("*",)),
        ("", ()),
    ],
)
def test_cors_origins_are_read_as_a_comma_separated_or_json_list(monkeypatch, tmp_path, value, origins):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRM_CORS_ORIGINS", value)
    assert Settings().cors_origins == origins


@pytest.mark.parametrize(
    "value", ["https://crm.example/", "crm.example", "https://crm.example/app", "*, https://a.example"]
)
def test_a_cors_origin_a_browser_would_never_send_is_refused(monkeypatch, tmp_path, value):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRM_CORS_ORIGINS", value)
    with pytest.raises(ValidationError):
        Settings()
