"""The game's rules: handing out rounds and checking answers, on the server.

A round is one real photo and one fake, in an order drawn by the server. The player receives only:
a round token (random, 256 bits) and two image URLs under opaque random ids (128 bits each). Both
images are encoded the same way before the round is handed out, kept in memory and served by the
same handler with the same headers, so neither the URLs, the bytes (a function of the pixels alone),
the order nor the timing says which one is real. The answer key lives in the database, with the
token only as its SHA-256.

Answering checks, in order: the token is known (404), the round is the caller's (403), it has not
been answered (409; the database's primary key makes this race-free), it has not expired (410).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

from facegan.errors import DatasetError, FaceganError
from facegan.web.detector import MachineGuess, MachineJudge
from facegan.web.imaging import encode_png
from facegan.web.pool import FakePool
from facegan.web.reals import RealSampler
from facegan.web.render import NetworkInfo
from facegan.web.storage import PlayerScore, RoundRecord, Storage
from facegan.web.tells import MARKABLE, TELL_NAMES


class GameError(FaceganError):
    """A request the game refuses; `status` is the HTTP status that says why."""

    def __init__(self, status: int, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class IssuedRound:
    token: str
    image_ids: tuple[str, str]
    expires_in: float
    reals_exhausted: bool   # The player has seen every real photo once; repeats are now possible.


@dataclass(frozen=True)
class AnswerResult:
    round_id: int
    correct: bool
    real_position: int
    fake_seed: int
    fake_psi: float
    fake_class: int | None
    real_name: str
    time_ms: int
    score: PlayerScore
    machine: MachineGuess | None = None   # The detector's guess, when the game runs with one.


@dataclass
class _StoredImage:
    data: bytes
    player: str
    expires_at: float


class ImageStore:
    """The encoded images of open rounds, by opaque id, bounded in bytes (oldest dropped first)."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._images: OrderedDict[str, _StoredImage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, image_id: str, data: bytes, player: str, expires_at: float) -> None:
        with self._lock:
            self._images[image_id] = _StoredImage(data, player, expires_at)
            self._bytes += len(data)
            now = time.time()
            while self._images and (self._bytes > self.max_bytes or next(iter(self._images.values())).expires_at < now):
                _, old = self._images.popitem(last=False)
                self._bytes -= len(old.data)

    def get(self, image_id: str, player: str) -> bytes | None:
        """The image if it exists, belongs to `player` and has not expired."""
        with self._lock:
            item = self._images.get(image_id)
        if item is None or item.player != player or item.expires_at < time.time():
            return None
        return item.data

    def drop(self, image_ids) -> None:
        with self._lock:
            for image_id in image_ids:
                item = self._images.pop(image_id, None)
                if item is not None:
                    self._bytes -= len(item.data)

    def __len__(self) -> int:
        return len(self._images)


@dataclass
class _OpenRound:
    token_hash: bytes
    image_ids: tuple[str, str]
    expires_at: float
    shown_at: float | None = None   # When the player first fetched one of its images.


class Game:
    def __init__(self, storage: Storage, pool: FakePool, reals: RealSampler, network: NetworkInfo,
                 round_ttl_s: float, max_open_rounds: int, pool_wait_s: float, image_store_bytes: int,
                 judge: MachineJudge | None = None):
        self.storage = storage
        self.judge = judge
        self.pool = pool
        self.reals = reals
        self.network = network
        self.round_ttl_s = round_ttl_s
        self.max_open_rounds = max_open_rounds
        self.pool_wait_s = pool_wait_s
        self.images = ImageStore(image_store_bytes)
        self._open: dict[str, deque[_OpenRound]] = {}   # player -> their unanswered rounds, oldest first
        self._by_hash: dict[bytes, _OpenRound] = {}
        self._by_image: dict[str, _OpenRound] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    # -- handing out rounds ----------------------------------------------------------------------
    def new_round(self, player: str) -> IssuedRound:
        fake = self.pool.take(self.pool_wait_s)
        if fake is None:
            detail = f" ({self.pool.error})" if self.pool.error else ""
            raise GameError(503, f"the generator is still preparing faces{detail}; try again in a moment",
                            retry_after=2.0)
        try:
            real_name, real_pixels, exhausted = self.reals.draw(player)
        except DatasetError as exc:
            raise GameError(503, f"no real photo can be read: {exc}") from None
        real_position = secrets.randbelow(2)
        pixels = [fake.pixels, fake.pixels]
        pixels[real_position] = real_pixels
        encoded = [encode_png(p) for p in pixels]       # the same encoder and settings for both
        token = secrets.token_urlsafe(32)
        image_ids = (secrets.token_urlsafe(16), secrets.token_urlsafe(16))
        now = time.time()
        expires_at = now + self.round_ttl_s
        hashed = token_hash(token)
        machine = self.judge.judge(pixels) if self.judge is not None else None
        self.storage.insert_round(hashed, player, now, expires_at, real_position, real_name, fake.seed, fake.psi,
                                  fake.class_idx, self.network.name,
                                  machine.p_generated if machine is not None else None,
                                  self.judge.name if self.judge is not None else None)
        for image_id, data in zip(image_ids, encoded):
            self.images.put(image_id, data, player, expires_at)
        self._remember(player, _OpenRound(hashed, image_ids, expires_at))
        return IssuedRound(token, image_ids, self.round_ttl_s, exhausted)

    def _remember(self, player: str, opened: _OpenRound) -> None:
        """Track the round; beyond `max_open_rounds` a player's oldest unanswered round loses its images."""
        with self._lock:
            rounds = self._open.setdefault(player, deque())
            rounds.append(opened)
            self._by_hash[opened.token_hash] = opened
            for image_id in opened.image_ids:
                self._by_image[image_id] = opened
            while len(rounds) > self.max_open_rounds:
                self._forget(rounds.popleft())
            now = time.time()
            if now >= self._next_sweep:  # forget expired rounds of players who left
                self._next_sweep = now + 60.0
                for key, open_rounds in list(self._open.items()):
                    for expired in [r for r in open_rounds if r.expires_at < now]:
                        open_rounds.remove(expired)
                        self._forget(expired)
                    if not open_rounds:
                        del self._open[key]

    def _forget(self, opened: _OpenRound) -> None:  # with self._lock held
        self._by_hash.pop(opened.token_hash, None)
        for image_id in opened.image_ids:
            self._by_image.pop(image_id, None)
        self.images.drop(opened.image_ids)

    def image(self, image_id: str, player: str) -> bytes | None:
        data = self.images.get(image_id, player)
        if data is not None:
            with self._lock:
                opened = self._by_image.get(image_id)
                if opened is not None and opened.shown_at is None:
                    opened.shown_at = time.time()
        return data

    # -- answers -----------------------------------------------------------------------------
    def _own_round(self, hashed: bytes, player: str) -> RoundRecord:
        record = self.storage.find_round(hashed)
        if record is None:
            raise GameError(404, "unknown round")
        if record.player != player:
            raise GameError(403, "this round was handed to another player")
        return record

    def answer(self, token: str, player: str, choice: int) -> AnswerResult:
        hashed = token_hash(token)
        record = self._own_round(hashed, player)
        if record.answered:
            raise GameError(409, "this round has already been answered")
        now = time.time()
        if now > record.expires_at:
            raise GameError(410, "this round has expired; start a new one")
        with self._lock:
            opened = self._by_hash.get(hashed)
        start = opened.shown_at if opened is not None and opened.shown_at is not None else record.issued_at
        time_ms = max(0, round((now - start) * 1000))
        correct = choice == record.real_position
        if not self.storage.record_answer(record.id, player, now, choice, correct, time_ms):
            raise GameError(409, "this round has already been answered")
        with self._lock:
            if opened is not None:
                rounds = self._open.get(player)
                if rounds is not None and opened in rounds:
                    rounds.remove(opened)
                    if not rounds:
                        del self._open[player]
                self._forget(opened)
        return AnswerResult(record.id, correct, record.real_position, record.fake_seed, record.fake_psi,
                            record.fake_class, record.real_name, time_ms, self.storage.player_score(player),
                            MachineGuess(record.machine_p) if record.machine_p is not None else None)

    def mark_tell(self, token: str, player: str, tell: str) -> None:
        if tell not in MARKABLE:
            raise GameError(422, f"unknown tell {tell!r}; one of {', '.join(MARKABLE)}")
        record = self._own_round(token_hash(token), player)
        if not record.answered:
            raise GameError(409, "answer the round before marking what gave the fake away")
        if record.tell is not None:
            raise GameError(409, f"a tell was already marked for this round ({TELL_NAMES[record.tell]})")
        if time.time() > record.expires_at + self.round_ttl_s:
            raise GameError(410, "this round is too old to mark")
        if not self.storage.record_tell(record.id, tell):
            raise GameError(409, "a tell was already marked for this round")

    def open_rounds(self, player: str) -> int:
        with self._lock:
            return len(self._open.get(player, ()))
