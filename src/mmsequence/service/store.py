"""Feedback on cards, the cards issued, and the ids of tokens already seen, in an embedded SQLite database.

Every write is committed before the request is answered, so nothing is lost when the service
process is killed (WAL journal, synchronous=NORMAL: a power cut may lose the last commits);
several service processes (``serve --workers N``) share one database file, so a token id used
in one is refused by every other.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from ..errors import InputError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    issuer TEXT,
    service TEXT NOT NULL,
    card TEXT NOT NULL,
    outcome TEXT NOT NULL,
    accepted_suggestions TEXT NOT NULL,
    reason_system TEXT,
    reason_code TEXT,
    reason_display TEXT,
    user_comment TEXT,
    outcome_timestamp TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS seen_token (
    issuer TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires INTEGER NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE TABLE IF NOT EXISTS issued_card (
    issuer TEXT NOT NULL,
    service TEXT NOT NULL,
    card TEXT NOT NULL,
    suggestions TEXT NOT NULL,
    issued INTEGER NOT NULL,
    PRIMARY KEY (issuer, service, card)
);
CREATE INDEX IF NOT EXISTS seen_token_expires ON seen_token (expires);
CREATE INDEX IF NOT EXISTS issued_card_issued ON issued_card (issued);
"""
#: Databases written before cards were recorded lack the feedback's issuer and its uniqueness.
_UPGRADES = {
    "feedback.issuer": "ALTER TABLE feedback ADD COLUMN issuer TEXT",
}
_FEEDBACK_ONCE = ("CREATE UNIQUE INDEX IF NOT EXISTS feedback_once ON feedback"
                  " (issuer, service, card, outcome, outcome_timestamp, accepted_suggestions)")
#: Token ids are kept this long after they expire, well beyond any clock leeway.
_KEEP_EXPIRED_SECONDS = 3600
#: Issued cards are kept this long for their feedback.
KEEP_CARDS_SECONDS = 90 * 24 * 3600
#: Expired token ids and old cards are deleted at most this often (by each process).
_PURGE_EVERY_SECONDS = 60


@attrs.frozen
class Feedback:
    """One user's action on one card, as the CDS client reported it."""

    service: str
    card: str
    outcome: str
    outcome_timestamp: str
    accepted_suggestions: tuple[str, ...] = ()
    reason_system: str | None = None
    reason_code: str | None = None
    reason_display: str | None = None
    user_comment: str | None = None


def open_store(path: str | Path) -> Store:
    """The Store at ``path``; InputError naming ``--database`` when it cannot be opened for
    writing (a read-only file or folder, a full disk, a path that is not a folder)."""
    try:
        return Store(path)
    except (sqlite3.Error, OSError) as error:
        raise InputError([f"--database: {path}: cannot be opened for writing ({error})"]) from None


class Store:
    """The service's SQLite database at ``path`` (created on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._next_purge = 0.0
        setup = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            setup.execute("PRAGMA journal_mode=WAL")
            setup.executescript(_SCHEMA)
        finally:
            setup.close()
        with self._connect() as db:
            columns = {f"feedback.{row[1]}" for row in db.execute("PRAGMA table_info(feedback)")}
            for column, statement in _UPGRADES.items():
                if column not in columns:
                    db.execute(statement)
            db.execute(_FEEDBACK_ONCE)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """One transaction on this thread's connection, holding the write lock from its start
        (BEGIN IMMEDIATE: a deferred one may fail to upgrade while another process writes).
        Connections stay open: closing the last one checkpoints the WAL with an fsync, which made
        every request wait on the disk."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _purge(self, db: sqlite3.Connection) -> None:
        """Delete expired token ids and cards past their keeping time, at most once a minute."""
        now = time.time()
        if now < self._next_purge:
            return
        self._next_purge = now + _PURGE_EVERY_SECONDS
        db.execute("DELETE FROM seen_token WHERE expires < ?", (int(now) - _KEEP_EXPIRED_SECONDS,))
        db.execute("DELETE FROM issued_card WHERE issued < ?", (int(now) - KEEP_CARDS_SECONDS,))

    def add_cards(self, issuer: str, service: str, cards: dict[str, tuple[str, ...]]) -> None:
        """Record cards issued to ``issuer`` (card uuid -> its suggestion uuids), for their feedback."""
        now = int(time.time())
        with self._connect() as db:
            self._purge(db)
            db.executemany("INSERT OR REPLACE INTO issued_card (issuer, service, card, suggestions, issued)"
                           " VALUES (?,?,?,?,?)",
                           [(issuer, service, card, json.dumps(list(s)), now) for card, s in cards.items()])

    def issued_cards(self, issuer: str, service: str, cards: list[str]) -> dict[str, tuple[str, ...]]:
        """Of ``cards``, those issued to ``issuer`` by ``service``, with their suggestion uuids."""
        with self._connect() as db:
            rows = db.execute(
                f"SELECT card, suggestions FROM issued_card WHERE issuer = ? AND service = ?"
                f" AND card IN ({','.join('?' * len(cards))})", (issuer, service, *cards)).fetchall()
        return {card: tuple(json.loads(suggestions)) for card, suggestions in rows}

    def add_feedback(self, issuer: str, items: list[Feedback]) -> int:
        """Store feedback entries in one transaction; an entry already stored (a retry) is not stored
        again. Returns how many were new."""
        received = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self._connect() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO feedback (issuer, service, card, outcome, accepted_suggestions, reason_system,"
                " reason_code, reason_display, user_comment, outcome_timestamp, received_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                [(issuer, f.service, f.card, f.outcome, json.dumps(sorted(f.accepted_suggestions)), f.reason_system,
                  f.reason_code, f.reason_display, f.user_comment, f.outcome_timestamp, received) for f in items],
            )
            return db.total_changes - before

    def feedback(self, service: str | None = None) -> list[Feedback]:
        """Stored feedback in the order it arrived, for one service or all."""
        query = ("SELECT service, card, outcome, outcome_timestamp, accepted_suggestions, reason_system, reason_code,"
                 " reason_display, user_comment FROM feedback")
        with self._connect() as db:
            rows: list[Any] = db.execute(query + (" WHERE service = ? ORDER BY id" if service else " ORDER BY id"),
                                         (service,) if service else ()).fetchall()
        return [Feedback(r[0], r[1], r[2], r[3], tuple(json.loads(r[4])), *r[5:]) for r in rows]

    def first_use_of_token(self, issuer: str, jti: str, expires: int) -> bool:
        """Record a token id until it expires; False if it was already seen (a replay)."""
        with self._connect() as db:
            self._purge(db)
            try:
                db.execute("INSERT INTO seen_token (issuer, jti, expires) VALUES (?,?,?)", (issuer, jti, expires))
            except sqlite3.IntegrityError:
                return False
        return True
