"""The download cache: every file facegan fetches (pretrained networks, metric weights) goes through here.

    fetch(remote, validate)   the cached path of a remote file, downloading it first if needed

What it guarantees:

- a file enters the cache (`$FACEGAN_CACHE`, default `~/.cache/facegan`) only after `validate` accepted
  it (networks: loaded through the restricted unpickler) and its SHA-256 matched the known one, if
  any. It is downloaded to `<file>.part` beside its place and renamed into place, so an HTML page, a
  truncated file or a hostile pickle never becomes a cache entry;
- the cache's index (`index.json`) records each entry's SHA-256, size and source on first download;
  every later use re-hashes the file and compares. A mismatch is an error naming both hashes;
- an interrupted download resumes from its `.part` with an HTTP Range request (`If-Range` guards
  against the file having changed on the server); a server that ignores Range starts it over;
- two processes fetching the same file take turns through a lock file: the second one finds the
  finished file in the cache;
- `FACEGAN_MIRROR=URL` fetches every registry file (`Remote.mirrorable`) from `URL/<file name>`
  instead of its official locations;
- offline (`FACEGAN_OFFLINE=1`, `facegan --offline`) nothing touches the network, and a missing file
  is one line saying which URL to download and where to put it.

HTTP goes through httpx (streaming, timeouts, redirects, cookies); Google Drive's "can't scan this
file for viruses" confirmation page is answered here (its form or its legacy confirm link), and its
quota page is reported as such.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

from facegan.errors import FaceganError
from facegan.utils.atomic import atomic_write_text

log = logging.getLogger(__name__)

CACHE_ENV = "FACEGAN_CACHE"
MIRROR_ENV = "FACEGAN_MIRROR"
OFFLINE_ENV = "FACEGAN_OFFLINE"
INDEX_NAME = "index.json"
ATTEMPTS = 3                  # per URL, for transient failures (a cut connection resumes)
CHUNK = 1 << 20
MAX_CONFIRM_PAGE = 2 << 20    # bytes of an HTML page read to look for Drive's confirmation form
USER_AGENT = "facegan (https://github.com/facegan)"

Validator = Callable[[Path], object]  # raises a FaceganError when the file is not what it should be


class DownloadError(FaceganError):
    """A remote file could not be fetched, or what came back is not the file."""


class _Fatal(Exception):
    """This URL will not give the file (404, an HTML page, ...): no retry, try the next URL."""


@dataclass(frozen=True)
class Remote:
    """A file that lives somewhere on the web and, once fetched, at `cache_dir() / key`."""

    key: str                          # path inside the cache, '/'-separated
    urls: tuple[str, ...]             # tried in order (fallbacks where NVIDIA moved files)
    sha256: str | None = None         # known hash: a mismatch is an error
    size: int | None = None           # known size in bytes (for information)
    mirrorable: bool = False          # a registry file: FACEGAN_MIRROR replaces its URLs

    @property
    def filename(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def path(self) -> Path:
        return cache_dir() / self.key

    def sources(self) -> tuple[str, ...]:
        """The URLs to try: the mirror's (by file name) when FACEGAN_MIRROR is set, else the official ones."""
        mirror = os.environ.get(MIRROR_ENV, "").strip()
        if self.mirrorable and mirror:
            return (f"{mirror.rstrip('/')}/{self.filename}",)
        return self.urls


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "facegan").expanduser()


def is_offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def url_remote(url: str) -> Remote:
    """A Remote for a plain URL: cached under urls/<hash of the URL>/<its file name>."""
    name = Path(urlsplit(url).path).name
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "download"
    return Remote(f"urls/{hashlib.sha256(url.encode()).hexdigest()[:16]}/{name}", (url,))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------
# The index

def read_index() -> dict[str, dict]:
    """{cache key: {"sha256", "size", "url", "downloaded"}} of every entry the cache recorded."""
    path = cache_dir() / INDEX_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise DownloadError(f"{path}: the cache index is unreadable ({exc}); delete it to start a new one") from None
    files = data.get("files") if isinstance(data, dict) else None
    return files if isinstance(files, dict) else {}


def _record(key: str, entry: dict | None) -> None:
    """Set (or with None remove) one index entry, under the index's lock."""
    with _lock(cache_dir() / INDEX_NAME):
        files = read_index()
        if entry is None:
            files.pop(key, None)
        else:
            files[key] = entry
        atomic_write_text(cache_dir() / INDEX_NAME, json.dumps({"version": 1, "files": files}, indent=1,
                                                                sort_keys=True) + "\n")


@contextlib.contextmanager
def _lock(path: Path, waiting: str | None = None) -> Iterator[None]:
    from filelock import FileLock, Timeout

    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path) + ".lock")
    try:
        lock.acquire(timeout=0.1)
    except Timeout:
        if waiting:
            log.warning(waiting)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


# ---------------------------------------------------------------------------------------------------
# Checking an entry

_checked: dict[str, tuple[int, int, str]] = {}  # path -> (size, mtime_ns, sha256) hashed in this process


def check_entry(remote: Remote, validate: Validator | None = None) -> str:
    """Re-hash a cached file and compare with the index (and the known hash); returns its SHA-256.

    A file put into the cache by hand has no index entry yet: it is validated, then recorded.
    """
    path = remote.path
    stat = path.stat()
    seen = _checked.get(str(path))
    if seen and seen[:2] == (stat.st_size, stat.st_mtime_ns):
        return seen[2]
    digest = sha256_of(path)
    recorded = read_index().get(remote.key, {}).get("sha256")
    if recorded is None:
        if validate is not None:
            try:
                validate(path)
            except FaceganError as exc:
                raise DownloadError(f"{path} (put in the cache by hand?) is not usable: {exc}") from None
        _expect_hash(remote, digest, path)
        _record(remote.key, _entry(path, digest, "(placed by hand)"))
    elif recorded != digest:
        raise DownloadError(f"{path} changed since it was downloaded: its SHA-256 is {digest}, the cache index "
                            f"recorded {recorded}; delete the file (or run `facegan pretrained download --force`)")
    else:
        _expect_hash(remote, digest, path)
    _checked[str(path)] = (stat.st_size, stat.st_mtime_ns, digest)
    return digest


def _expect_hash(remote: Remote, digest: str, where: Path | str) -> None:
    if remote.sha256 and remote.sha256.lower() != digest:
        raise DownloadError(f"{where}: SHA-256 mismatch: expected {remote.sha256.lower()}, got {digest}")


def _entry(path: Path, digest: str, url: str) -> dict:
    return {"sha256": digest, "size": path.stat().st_size, "url": url,
            "downloaded": datetime.now(timezone.utc).isoformat(timespec="seconds")}


# ---------------------------------------------------------------------------------------------------
# Fetching

def fetch(remote: Remote, validate: Validator | None = None, *, offline: bool | None = None,
          progress: bool = True, force: bool = False, timeout: float = 30.0) -> Path:
    """The cached path of `remote`, downloading, validating and recording it first when needed."""
    offline = is_offline() if offline is None else offline
    dest = remote.path
    if dest.is_file() and not force:
        check_entry(remote, validate)
        return dest
    urls = remote.sources()
    if offline:
        raise DownloadError(f"{remote.filename} is not in the cache and facegan is offline: download {urls[0]} "
                            f"and put it at {dest}")
    try:
        with _lock(dest, waiting=f"waiting for another process downloading {remote.filename}"):
            if dest.is_file() and not force:  # the other process finished it
                check_entry(remote, validate)
                return dest
            failures = []
            for url in urls:
                try:
                    _download(url, dest, timeout=timeout, progress=progress)
                    digest = _accept(remote, dest, url, validate)
                except DownloadError as exc:
                    failures.append(f"{url}: {str(exc).rstrip('.')}")
                    continue
                _checked[str(dest)] = (dest.stat().st_size, dest.stat().st_mtime_ns, digest)
                return dest
    except OSError as exc:
        raise DownloadError(f"cannot write {remote.filename} into the cache {cache_dir()} ({exc.strerror or exc}); "
                            f"set {CACHE_ENV} to a writable folder") from None
    hint = "" if os.environ.get(MIRROR_ENV) else " (or set FACEGAN_MIRROR to a mirror)"
    raise DownloadError(f"could not download {remote.filename}: {'; '.join(failures)}. Download it by hand and "
                        f"put it at {dest}{hint}")


def _part(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _accept(remote: Remote, dest: Path, url: str, validate: Validator | None) -> str:
    """Validate and hash the finished .part, then move it into the cache and record it."""
    part = _part(dest)
    try:
        if validate is not None:
            try:
                validate(part)
            except FaceganError as exc:
                raise DownloadError(f"not a usable file ({exc}); nothing was cached") from None
        digest = sha256_of(part)
        _expect_hash(remote, digest, url)
    except BaseException:
        _discard(part)
        raise
    with open(part, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(part, dest)
    _meta(part).unlink(missing_ok=True)
    _record(remote.key, _entry(dest, digest, url))
    return digest


def _discard(part: Path) -> None:
    part.unlink(missing_ok=True)
    _meta(part).unlink(missing_ok=True)


def _meta(part: Path) -> Path:
    """Beside a .part: the URL and validator (ETag / Last-Modified) it came from, for resuming."""
    return part.with_name(part.name + ".json")


def _download(url: str, dest: Path, *, timeout: float, progress: bool) -> None:
    """Download `url` to dest's .part, resuming what an earlier attempt left there."""
    import httpx

    part = _part(dest)
    if part.exists() and _read_meta(part).get("url") != url:
        _discard(part)  # a leftover from another source: its bytes may belong to another file
    last: Exception | None = None
    with httpx.Client(follow_redirects=True, timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
                      headers={"User-Agent": USER_AGENT}) as client:
        for attempt in range(ATTEMPTS):
            if attempt:
                time.sleep(min(0.25 * 2 ** attempt, 4.0))
            try:
                _attempt(client, url, part, progress)
                return
            except _Fatal as exc:
                _discard(part)
                raise DownloadError(str(exc)) from None
            except httpx.ConnectError as exc:  # no route, refused, unknown host: the next URL
                raise DownloadError(_reason(exc)) from None
            except (httpx.TransportError, _Retry) as exc:  # cut, timeout, 5xx: retry (resuming)
                last = exc
                log.info("download of %s interrupted (%s); retrying", url, _reason(exc))
    raise DownloadError(_reason(last))


class _Retry(Exception):
    """A transient server failure (5xx, 429) or an incomplete body."""


def _reason(exc: Exception | None) -> str:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})" if str(exc) else "cannot connect"
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0]


def _attempt(client, source: str, part: Path, progress: bool) -> None:
    """One GET (following Drive's confirmation page): appends to the .part, resuming when it can."""
    url = source
    for _hop in range(4):
        offset = part.stat().st_size if part.exists() else 0
        headers = {}
        meta = _read_meta(part)
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if meta.get("validator"):
                headers["If-Range"] = meta["validator"]
        with client.stream("GET", url, headers=headers) as response:
            status = response.status_code
            if status == 416 and offset:  # nothing left to send, or the file shrank: start over
                _discard(part)
                continue
            if status in (408, 429) or status >= 500:
                raise _Retry(f"HTTP {status} {response.reason_phrase}")
            if status >= 400:
                raise _Fatal(f"HTTP {status} {response.reason_phrase}")
            ctype = response.headers.get("content-type", "")
            if ctype.startswith("text/html") and "content-disposition" not in response.headers:
                url = _follow_html(response)
                continue
            if status == 206:
                start = _range_start(response.headers.get("content-range", ""))
                if start != offset:
                    raise _Fatal(f"the server resumed at byte {start}, not {offset}")
            else:
                offset = 0  # a full answer: the server ignored Range (or the file changed)
            total = response.headers.get("content-length")
            total = int(total) + offset if total and total.isdigit() else None
            _write_meta(part, source, response.headers.get("etag") or response.headers.get("last-modified"))
            _stream(response, part, offset, total, progress)
            size = part.stat().st_size
            if total is not None and size != total:
                raise _Retry(f"the connection closed at byte {size} of {total}")
            return
    raise _Fatal("too many confirmation pages")


def _read_meta(part: Path) -> dict:
    try:
        return json.loads(_meta(part).read_text())
    except (OSError, ValueError):
        return {}


def _write_meta(part: Path, url: str, validator: str | None) -> None:
    part.parent.mkdir(parents=True, exist_ok=True)
    _meta(part).write_text(json.dumps({"url": url, "validator": validator}))


def _range_start(content_range: str) -> int | None:
    m = re.match(r"\s*bytes\s+(\d+)-", content_range)
    return int(m.group(1)) if m else None


def _stream(response, part: Path, offset: int, total: int | None, progress: bool) -> None:
    from tqdm import tqdm

    name = part.name.removesuffix(".part")
    with open(part, "r+b" if offset else "wb") as f, \
            tqdm(total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                 disable=None if progress else True, dynamic_ncols=True) as bar:
        f.seek(offset)
        f.truncate()
        for chunk in response.iter_bytes():  # as it arrives: a cut keeps what came
            f.write(chunk)
            bar.update(len(chunk))


# Google Drive answers a large file with an HTML page: "Google Drive can't scan this file for viruses",
# holding a form (id="download-form", its hidden inputs carry id, export, confirm, uuid) or, in its older
# form, a link /uc?export=download&confirm=TOKEN&id=ID (with a download_warning cookie). A file over its
# quota gives a page whose "uc-error-subcaption" says so.
_FORM = re.compile(r'<form[^>]*\bid="download-form"[^>]*>(.*?)</form>', re.S | re.I)
_ACTION = re.compile(r'\baction="([^"]+)"', re.I)
_INPUT = re.compile(r"<input\b[^>]*>", re.I)
_ATTR = re.compile(r'\b(name|value|type)="([^"]*)"', re.I)
_CONFIRM_LINK = re.compile(r'href="(/uc\?export=download[^"]+)"', re.I)
_ERROR = re.compile(r'class="uc-error-(?:caption|subcaption)"[^>]*>(.*?)</', re.S | re.I)
_TITLE = re.compile(r"<title>(.*?)</title>", re.S | re.I)


def _follow_html(response) -> str:
    """The URL a Drive confirmation page leads to; any other HTML page is an error naming it."""
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_CONFIRM_PAGE:
            break
    text = body.decode("utf-8", "replace")
    form = _FORM.search(text)
    if form:
        action = _ACTION.search(form.group(0))
        fields = []
        for tag in _INPUT.findall(form.group(1)):
            attrs = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(tag)}
            if attrs.get("name") and attrs.get("type", "hidden").lower() == "hidden":
                fields.append((attrs["name"], attrs.get("value", "")))
        target = urljoin(str(response.url), html.unescape(action.group(1)) if action else "")
        return f"{target}{'&' if '?' in target else '?'}{urlencode(fields)}"
    link = _CONFIRM_LINK.search(text)
    if link:
        return urljoin(str(response.url), html.unescape(link.group(1)))
    error = _ERROR.findall(text)
    if error:
        words = " ".join(" ".join(re.sub(r"<[^>]+>", " ", html.unescape(e)).split()) for e in error)
        raise _Fatal(f"the server sent an HTML page, not the file: {words}")
    title = _TITLE.search(text)
    what = f" ({' '.join(html.unescape(title.group(1)).split())})" if title else ""
    raise _Fatal(f"the server sent an HTML page{what}, not the file")
