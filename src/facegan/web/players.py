"""Anonymous players: a random id in a signed cookie, and the per-player general rate limit.

The cookie is `<id>.<signature>`, the signature an HMAC-SHA256 of the id under the app's secret
(kept in the database, so players survive restarts). A forged or altered cookie is ignored and a
new id is handed out; new ids are rate-limited per client address, so clearing cookies does not
escape the per-player limits. HttpOnly, SameSite=Strict, Path=/, one year.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from http.cookies import SimpleCookie

from facegan.web.ratelimit import RateLimiter, retry_after
from facegan.web.security import ASGIApp, Receive, Scope, Send, header, send_json_error

COOKIE = "facegan_player"
MAX_AGE = 365 * 86400
_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
# Paths that need no player: the app's own static files and the machine-facing endpoints.
ANONYMOUS_PREFIXES = ("/static/", "/healthz", "/openapi.json", "/faces/")


class PlayerIds:
    def __init__(self, secret: bytes):
        self._secret = secret

    def _signature(self, player: str) -> str:
        digest = hmac.new(self._secret, player.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def new(self) -> tuple[str, str]:
        """(player id, cookie value)."""
        player = secrets.token_urlsafe(16)
        return player, f"{player}.{self._signature(player)}"

    def verify(self, value: str | None) -> str | None:
        """The player id of a genuine cookie value, else None."""
        if not value or value.count(".") != 1:
            return None
        player, signature = value.split(".")
        if not _ID.match(player) or not hmac.compare_digest(signature, self._signature(player)):
            return None
        return player


def cookie_value(scope: Scope) -> str | None:
    raw = header(scope, b"cookie")
    if not raw:
        return None
    jar = SimpleCookie()
    try:
        jar.load(raw.decode("latin-1"))
    except Exception:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None else None


class PlayerCookie:
    """Puts the player id in `scope["state"]["player"]` (handing out a new one when needed) and applies
    the general per-player limit and the per-address limit on new players."""

    def __init__(self, app: ASGIApp, ids: PlayerIds, general: RateLimiter | None, new_players: RateLimiter | None,
                 secure: bool = False):
        self.app = app
        self.ids = ids
        self.general = general
        self.new_players = new_players
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(ANONYMOUS_PREFIXES):
            return await self.app(scope, receive, send)
        player = self.ids.verify(cookie_value(scope))
        set_cookie = None
        if player is None:
            if self.new_players is not None:
                address = (scope.get("client") or ("unknown", 0))[0]
                wait = self.new_players.take(address)
                if wait:
                    return await send_json_error(send, 429, "too many new players from this address; retry later",
                                                 [(b"retry-after", retry_after(wait).encode())])
            player, value = self.ids.new()
            flags = f"; Max-Age={MAX_AGE}; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if self.secure else "")
            set_cookie = f"{COOKIE}={value}{flags}".encode()
        if self.general is not None:
            wait = self.general.take(player)
            if wait:
                return await send_json_error(send, 429, "too many requests; slow down",
                                             [(b"retry-after", retry_after(wait).encode())])
        scope.setdefault("state", {})["player"] = player

        async def send_with_cookie(message: dict) -> None:
            if set_cookie is not None and message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", set_cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)
