"""Security middleware (plain ASGI): response headers with a strict Content Security Policy, the
Host header check that defeats DNS rebinding, and the request body limit.

The CSP allows scripts, styles, images and fetches from the app's own origin only (plus blob:
images, which the explorer makes from rendered PNGs): no inline script or style, no third-party
origin, no framing, no plugins.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable

Scope = dict
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = "; ".join([
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' blob:",
    "connect-src 'self'",
    "font-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
)


async def send_json_error(send: Send, status: int, message: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
    """A complete JSON error response ({"detail": message}), as FastAPI writes its own."""
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), *headers]})
    await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response (replacing any the app set)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        names = {k for k, _ in SECURITY_HEADERS}

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + list(SECURITY_HEADERS)}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HostCheck:
    """Refuses requests whose Host header is not one of `hosts` ('*' accepts any)."""

    def __init__(self, app: ASGIApp, hosts: Iterable[str]):
        self.app = app
        self.hosts = {h.lower() for h in hosts}

    def allowed(self, host_header: bytes | None) -> bool:
        if "*" in self.hosts:
            return True
        if not host_header:
            return False
        host = host_header.decode("latin-1").lower()
        if host.startswith("["):                      # [::1]:8000
            name = host[:host.find("]") + 1] if "]" in host else host
        else:
            name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return name in self.hosts or name.strip("[]") in self.hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allowed(header(scope, b"host")):
            return await send_json_error(send, 400, "invalid Host header")
        await self.app(scope, receive, send)


class BodyLimit:
    """Reads request bodies up to `max_bytes` before the app sees them; larger ones get 413.

    A declared Content-Length over the limit is refused without reading; a chunked body is counted
    as it arrives. The app then receives the body in one piece.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = f"request body too large (limit {self.max_bytes} bytes)"
        declared = header(scope, b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                return await send_json_error(send, 400, "invalid Content-Length header")
            if length < 0:
                return await send_json_error(send, 400, "invalid Content-Length header")
            if length > self.max_bytes:
                return await send_json_error(send, 413, too_large)
        chunked = header(scope, b"transfer-encoding") is not None
        if scope["method"] in ("GET", "HEAD", "OPTIONS") and declared is None and not chunked:
            return await self.app(scope, receive, send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await send_json_error(send, 413, too_large)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
