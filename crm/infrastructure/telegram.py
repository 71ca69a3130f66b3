"""Telegram's Bot API ``sendMessage``, as the notifications' telegram channel.

The bot token is part of every request's URL, so neither the URL nor an httpx error that could carry it is ever
logged or recorded: errors are written from the status, Telegram's own ``description`` and the error's type.
"""

from __future__ import annotations

import httpx
import structlog
from pydantic import SecretStr

from crm.domain.notifications.records import DueDelivery, SendOutcome

log = structlog.get_logger(__name__)

NO_TOKEN = (
    "Telegram is not configured: set CRM_NOTIFICATIONS_TELEGRAM_BOT_TOKEN (or CRM_NOTIFICATIONS_TELEGRAM_MOCK=true)"
)
# Answers that no retry can change: a bad request (chat not found), a bad token, a bot blocked by the user.
_FOR_GOOD = frozenset({400, 401, 403, 404})
DESCRIPTION_LENGTH = 300


def telegram_http_client(base_url: str, timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(timeout), follow_redirects=False)


class TelegramChannel:
    """Sends a delivery's text to its ``telegram_id`` chat; ``mock`` records it as sent without a call."""

    def __init__(self, client: httpx.AsyncClient | None, token: SecretStr | None, *, mock: bool) -> None:
        self._client = client
        self._token = token
        self._mock = mock

    async def send(self, delivery: DueDelivery) -> SendOutcome:
        if self._mock:
            log.info("telegram mock: message recorded as sent", delivery_id=str(delivery.id))
            return SendOutcome.ok()
        if self._token is None or self._client is None:
            return SendOutcome.failed(NO_TOKEN, permanent=True)
        try:
            response = await self._client.post(
                # Absolute path, joined to the base URL's own path by httpx: a token holds a colon, and "bot123:abc"
                # alone would read as a URL with the scheme "bot123".
                f"/bot{self._token.get_secret_value()}/sendMessage",
                json={"chat_id": delivery.telegram_id, "text": delivery.text},
            )
        except httpx.TimeoutException as exc:
            return SendOutcome.failed(f"telegram did not answer in time ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return SendOutcome.failed(f"telegram unreachable ({type(exc).__name__})")
        return _outcome(response)


def _outcome(response: httpx.Response) -> SendOutcome:
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    if response.is_success and body.get("ok", True):
        return SendOutcome.ok()
    description = str(body.get("description") or response.reason_phrase or "")[:DESCRIPTION_LENGTH]
    error = f"telegram answered {response.status_code}" + (f": {description}" if description else "")
    if response.status_code == 429:
        parameters = body.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        if not isinstance(retry_after, int | float) or isinstance(retry_after, bool) or retry_after < 0:
            retry_after = response.headers.get("Retry-After")
            retry_after = float(retry_after) if retry_after and retry_after.isdigit() else None
        return SendOutcome.failed(error, retry_after=None if retry_after is None else float(retry_after))
    return SendOutcome.failed(error, permanent=response.status_code in _FOR_GOOD)
