"""A real, throw-away PostgreSQL server for the tests and the load benchmark, on 127.0.0.1.

`PostgresServer.start()` runs `initdb` into a fresh temporary folder and starts `postgres` on a free
loopback port (and a Unix socket in that folder), trusting local connections. PostgreSQL refuses to
run as root, and CI runs as root: then every server command runs as the `postgres` OS user (which
Debian's `postgresql` package creates; `make postgresql` installs it) through `runuser`, and the
folder is handed to that user. The binaries are found on PATH or in Debian's
/usr/lib/postgresql/<version>/bin. Anything missing raises `PostgresUnavailable` with the reason.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

SERVER_USER = "postgres"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here (the message says why)."""


def find_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if candidates:
        return candidates[-1]
    raise PostgresUnavailable(f"{name} not found (install Debian's postgresql package: `make postgresql`)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, root: Path, port: int, as_user: str | None):
        self.root = root
        self.data = root / "data"
        self.port = port
        self.as_user = as_user

    # -- running the server's commands ----------------------------------------------------------
    def _run(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        command = list(args)
        if self.as_user is not None:
            command = ["runuser", "-u", self.as_user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise PostgresUnavailable(f"{Path(args[0]).name} failed: {(result.stderr or result.stdout).strip()[-800:]}")
        return result

    @classmethod
    def start(cls, fsync: bool = False, max_connections: int = 200) -> PostgresServer:
        """initdb and start a server; `fsync=False` is for tests only (much faster, not crash-safe)."""
        initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
        as_user = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise PostgresUnavailable(f"running as root and there is no {SERVER_USER!r} OS user to run "
                                          "PostgreSQL as (`make postgresql` creates it)") from None
            if shutil.which("runuser") is None:
                raise PostgresUnavailable("running as root and runuser is missing")
            as_user = SERVER_USER
        root = Path(tempfile.mkdtemp(prefix="facegan-pg-"))
        if as_user is not None:
            shutil.chown(root, as_user, as_user)
        server = cls(root, free_port(), as_user)
        server._run(initdb, "-D", str(server.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                    "--locale=C", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -c port={server.port} -c unix_socket_directories={root} "
                   f"-c max_connections={max_connections} -c fsync={'on' if fsync else 'off'} "
                   f"-c full_page_writes={'on' if fsync else 'off'} -c shared_buffers=32MB")
        server._pg_ctl = pg_ctl
        server._options = options
        server.startup()
        return server

    def startup(self) -> None:
        self._run(self._pg_ctl, "-D", str(self.data), "-o", self._options, "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "start")

    def shutdown(self, mode: str = "fast") -> None:
        self._run(self._pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def stop(self) -> None:
        """Stop the server and delete its folder."""
        try:
            self.shutdown("immediate")
        except (PostgresUnavailable, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.root, ignore_errors=True)

    # -- databases -------------------------------------------------------------------------------
    def url(self, database: str = "postgres", schema: str | None = None) -> str:
        url = f"postgresql://postgres@127.0.0.1:{self.port}/{database}"
        return url + (f"?options=-csearch_path%3D{schema}" if schema else "")

    def fresh_url(self) -> str:
        """A URL whose tables land in a new, empty schema (cheaper than a new database)."""
        import psycopg

        schema = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        return self.url(schema=schema)

    def wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
