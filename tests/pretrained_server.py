"""A real HTTP server on 127.0.0.1 for the download tests: serves files with Range support and
misbehaves on request (a connection cut mid-file, an HTML error page, a 404, a hang, Google Drive's
confirmation flow, Drive's quota page)."""

from __future__ import annotations

import html
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Route:
    body: bytes = b""
    mode: str = "file"        # file | cut | html | 404 | drive | drive-legacy | drive-quota | no-range
    cuts: int = 1             # 'cut': how many answers stop halfway
    delay: float = 0.0        # seconds before answering (a hang, for timeouts and overlapping downloads)
    served: int = field(default=0)


class Server:
    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path with query, headers)
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def add(self, path: str, body: bytes = b"", **kw) -> str:
        self.routes[path] = Route(body, **kw)
        return self.url(path)

    def hits(self, path: str) -> list[dict[str, str]]:
        return [h for p, h in self.requests if urlsplit(p).path == path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


DRIVE_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<div class="uc-main"><div id="uc-text"><p class="uc-warning-caption">Google Drive can't scan this file for viruses.</p>
<p class="uc-warning-subcaption"><span class="uc-name-size"><a href="/open?id={id}">{name}</a> ({size})</span> is too
large for Google to scan for viruses. Would you still like to download this file?</p>
<form id="download-form" action="{action}" method="get"><input type="submit" id="uc-download-link"
class="goog-inline-block jfk-button jfk-button-action" value="Download anyway"/><input type="hidden" name="id"
value="{id}"><input type="hidden" name="export" value="download"><input type="hidden" name="confirm" value="t"><input
type="hidden" name="uuid" value="4b0b5f8e-0f3c-4d8e-9a77-5d5b7c0c2a11"></form></div></div></body></html>"""

DRIVE_LEGACY_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>
<p class="uc-warning-subcaption">Google Drive can't scan this file for viruses.</p>
<a id="uc-download-link" class="goog-inline-block jfk-button jfk-button-action"
href="/uc?export=download&amp;confirm=Xy9Z&amp;id={id}">Download anyway</a></body></html>"""

DRIVE_QUOTA_PAGE = """<!DOCTYPE html><html><head><title>Google Drive - Quota exceeded</title></head><body>
<div class="uc-main"><div id="uc-text"><p class="uc-error-caption">Sorry, you can&#39;t view or download this file at
this time.</p><p class="uc-error-subcaption">Too many users have viewed or downloaded this file recently. Please try
accessing the file again later.</p></div></div></body></html>"""

ERROR_PAGE = b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body>try later</body></html>"


def _handler(server: Server):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_HEAD(self):  # noqa: N802  (the Hugging Face Hub's metadata request)
            with server.lock:
                server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            route = server.routes.get(urlsplit(self.path).path)
            if route is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(route.body)))
            self.send_header("ETag", self._etag(route))
            self.send_header("X-Repo-Commit", "0123456789abcdef0123456789abcdef01234567")
            self.end_headers()

        def do_GET(self):  # noqa: N802
            with server.lock:
                server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            parts = urlsplit(self.path)
            route = server.routes.get(parts.path)
            if route is None or route.mode == "404":
                return self._send(404, b"<html><body>Not Found</body></html>", "text/html")
            if route.delay:
                time.sleep(route.delay)
            query = parse_qs(parts.query)
            mode = route.mode
            if mode == "html":
                return self._send(200, ERROR_PAGE, "text/html; charset=utf-8")
            if mode == "drive-quota":
                return self._send(200, DRIVE_QUOTA_PAGE.encode(), "text/html; charset=utf-8")
            if mode == "drive" and "confirm" not in query:
                page = DRIVE_PAGE.format(id=query.get("id", ["?"])[0], name="network.pkl", size="1M",
                                         action=html.escape(server.url("/download")))
                return self._send(200, page.encode(), "text/html; charset=utf-8")
            if mode == "drive-legacy" and "confirm" not in query:
                page = DRIVE_LEGACY_PAGE.format(id=query.get("id", ["?"])[0])
                return self._send(200, page.encode(), "text/html; charset=utf-8",
                                  extra={"Set-Cookie": "download_warning_13058876669334088843_x=Xy9Z; Path=/"})
            self._file(route, disposition=mode.startswith("drive"))

        def _file(self, route: Route, disposition: bool):
            body, start = route.body, 0
            rng = self.headers.get("Range")
            status = 200
            if rng and route.mode != "no-range":
                m = re.match(r"bytes=(\d+)-$", rng)
                start = int(m.group(1)) if m else 0
                if_range = self.headers.get("If-Range")
                if if_range is not None and if_range != self._etag(route):
                    start = 0
                elif start >= len(body):
                    return self._send(416, b"", "text/plain", extra={"Content-Range": f"bytes */{len(body)}"})
                else:
                    status = 206
            extra = {"ETag": self._etag(route), "Accept-Ranges": "bytes"}
            if status == 206:
                extra["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            if disposition:
                extra["Content-Disposition"] = "attachment; filename=\"network.pkl\""
            payload = body[start:]
            route.served += 1
            if route.mode == "cut" and route.served <= route.cuts:
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload[:len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            self._send(status, payload, "application/octet-stream", extra=extra)

        @staticmethod
        def _etag(route: Route) -> str:
            return f'"{len(route.body):x}-{hash(route.body) & 0xffffffff:x}"'

        def _send(self, status, payload: bytes, ctype: str, extra: dict | None = None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)

    return Handler
