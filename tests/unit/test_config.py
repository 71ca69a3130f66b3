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
