from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from crm.domain.clock import Clock


def test_today_is_the_business_zone_day_not_the_hosts():
    late_utc = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)  # already the 24th in Moscow (UTC+3)
    clock = Clock(ZoneInfo("Europe/Moscow"), source=lambda: late_utc)
    assert clock.today() == date(2026, 11, 24)
    assert Clock(ZoneInfo("America/New_York"), source=lambda: late_utc).today() == date(2026, 11, 23)
