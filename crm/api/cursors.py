"""Signed cursors: a list resumes only from a position this service handed out.

The repositories encode a cursor as the sort key of the last row served (``crm.domain.pagination``); the
API signs it with an HMAC on the way out and checks the signature on the way in, so a forged or altered
cursor is a 400 ``invalid_cursor`` before any of it is decoded, let alone sent to the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from crm.domain.errors import InvalidCursor

_SEPARATOR = "."
_MAC_BYTES = 16  # 128 bits: far beyond guessing, and the cursor stays short


class CursorSigner:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a cursor key needs at least 16 bytes")
        self._key = key

    def _mac(self, cursor: str) -> str:
        digest = hmac.new(self._key, cursor.encode(), hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(self, cursor: str) -> str:
        return f"{cursor}{_SEPARATOR}{self._mac(cursor)}"

    def verify(self, signed: str) -> str:
        """The cursor as the repository encoded it; ``InvalidCursor`` unless this key signed it."""
        cursor, separator, mac = signed.rpartition(_SEPARATOR)
        if not separator or not cursor or not hmac.compare_digest(mac.encode(), self._mac(cursor).encode()):
            raise InvalidCursor()
        return cursor
