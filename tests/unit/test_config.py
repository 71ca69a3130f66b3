import pytest
from pydantic import ValidationError

from crm.app.config import Settings


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
