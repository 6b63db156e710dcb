"""The settings of the web app, one typed frozen dataclass (`facegan serve` fills it from its options)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from facegan.errors import ConfigError
from facegan.web.db import is_postgres, normalise
from facegan.web.ratelimit import RateLimits

PRECISIONS = ("fp32", "bf16")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WebSettings:
    network: Path                              # Generator file (.safetensors or an official pickle).
    data: Path                                 # Archive (zip or folder) of real photos.
    db: Path | str = Path("game.sqlite")       # SQLite file of rounds and answers (created if missing),
                                               # or a postgresql:// URL (facegan.web.db).
    host: str = "127.0.0.1"                    # Address to bind; loopback unless asked otherwise.
    port: int = 8000                           # TCP port.
    device: str = "auto"                       # auto, cpu, cuda, cuda:1, mps.
    precision: str = "fp32"                    # Generator arithmetic: fp32 or bf16 (faster on AVX-512 BF16).
    pool_size: int = 32                        # Fakes generated ahead of the rounds that will show them.
    psi_range: tuple[float, float] = (0.5, 1.0)  # Truncation psi of the game's fakes, drawn uniformly.
    random_psi: float = 0.7                    # Default psi of /random.
    display_size: int = 512                    # Largest side of the game's images (both are resized to it).
    preview_resolution: int = 256              # Networks above this get a fast low-resolution preview in /explore.
    round_ttl_s: float = 600.0                 # A round's token expires this long after it is handed out.
    max_open_rounds: int = 4                   # Unanswered rounds a player may hold; older ones are dropped.
    pool_wait_s: float = 5.0                   # How long a new round waits for a fake when the pool is empty.
    max_body_bytes: int = 16 * 1024            # Largest request body accepted.
    image_store_bytes: int = 256 * 2**20       # Memory for the encoded images of open rounds.
    render_cache_bytes: int = 64 * 2**20       # Memory for recently rendered explorer/lesson images.
    rate_limits: RateLimits = field(default_factory=RateLimits)  # Per-player and per-address limits.
    allowed_hosts: tuple[str, ...] | None = None  # Host headers accepted; None: loopback names when bound to
                                               # loopback (defeats DNS rebinding), any otherwise.
    cookie_secure: bool = False                # Mark the player cookie Secure (when served behind HTTPS).
    detector: Path | None = None               # A detector file: the machine guesses each round too.
    workers: int = 1                           # Web worker processes (`facegan serve --workers`).
    shared_state: bool | None = None           # Keep round images, rate limits and the fakes in the database
                                               # (facegan.web.shared); None: when workers > 1 or on PostgreSQL.

    def __post_init__(self) -> None:
        object.__setattr__(self, "network", Path(self.network))
        object.__setattr__(self, "data", Path(self.data))
        object.__setattr__(self, "db", normalise(self.db))
        if int(self.workers) < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        if self.detector is not None:
            object.__setattr__(self, "detector", Path(self.detector))
        lo, hi = (float(v) for v in self.psi_range)
        object.__setattr__(self, "psi_range", (lo, hi))
        if not -2.0 <= lo <= hi <= 2.0:
            raise ConfigError(f"psi range must satisfy -2 <= min <= max <= 2, got {lo}, {hi}")
        if not -2.0 <= self.random_psi <= 2.0:
            raise ConfigError(f"random psi must be in [-2, 2], got {self.random_psi}")
        if not 0 <= self.port < 65536:
            raise ConfigError(f"port must be in [0, 65535], got {self.port}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        for name in ("pool_size", "display_size", "preview_resolution", "max_open_rounds", "max_body_bytes",
                     "image_store_bytes"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name.replace('_', ' ')} must be >= 1, got {getattr(self, name)}")
        if self.display_size < 16:
            raise ConfigError(f"display size must be at least 16 pixels, got {self.display_size}")
        if self.round_ttl_s <= 0 or self.pool_wait_s < 0:
            raise ConfigError("round ttl must be > 0 and pool wait >= 0 seconds")
        if self.allowed_hosts is not None:
            object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))

    @property
    def shared(self) -> bool:
        """Whether the state of the game lives in the database, for many workers."""
        if self.shared_state is not None:
            return self.shared_state
        return self.workers > 1 or is_postgres(self.db)

    @property
    def hosts_accepted(self) -> tuple[str, ...]:
        """The Host header names accepted ('*' = any)."""
        if self.allowed_hosts is not None:
            return self.allowed_hosts
        if is_loopback(self.host):
            return LOOPBACK_HOSTS
        return ("*",)
