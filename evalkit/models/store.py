"""The response store: every successful answer, keyed by the exact request and by what answered it.

A row is one answer under three keys: the request (model id, API, full body,
sample index), the endpoint's identity (``source``: base URL and what the
server says it serves, see ``endpoint_identity``) and the run that asked; it
also records which of the run's arms asked, at which address (``asked_by``). Who
may reuse an answer:

- the same run (a killed run resumed in its own run directory): the arm that asked,
  at the same address, whatever deployment behind it answered;
- another run: only with ``reuse`` (``store.reuse=true``) and the same source,
  so a re-pointed proxy alias or a new server version never gets old answers;
- ``model.offline=true`` replays the newest answer to the request from any
  source: the endpoint is not there to ask who it is.

SQLite in WAL mode with a busy timeout, so parallel sweep jobs can share one
file. Error responses are never stored.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from evalkit.config import ConfigError

# `answers` replaced schema 1's `responses` table (keyed by request only): those rows do not say
# what answered them, so they are left alone and never reused.
SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT NOT NULL,
    source TEXT NOT NULL,
    run_id TEXT NOT NULL,
    model TEXT NOT NULL,
    task_id TEXT NOT NULL,
    sample_index INTEGER NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    created_at REAL NOT NULL,
    asked_by TEXT NOT NULL DEFAULT '',
    answered_by TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (key, source, run_id, asked_by)
)
"""
_COLUMNS = ("key, source, run_id, model, task_id, sample_index, text, finish_reason, prompt_tokens,"
            " completion_tokens, latency_s, created_at, asked_by, answered_by")


def request_key(model: str, api: str, body: Mapping[str, Any], sample_index: int) -> str:
    """sha256 over the served model id, the API, the full request body and the sample index."""
    blob = json.dumps({"model": model, "api": api, "body": body, "sample_index": sample_index},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def source_key(identity: Mapping[str, Any]) -> str:
    """sha256 of an endpoint identity (``ModelClient.identity``): the store's ``source``. Its base
    URL counts as ``canonical_url`` spells it."""
    if isinstance(identity.get("base_url"), str):
        identity = {**identity, "base_url": canonical_url(identity["base_url"])}
    blob = json.dumps(identity, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def canonical_url(url: str) -> str:
    """``url`` as one spelling of the address it names: scheme and host in lower case, no default
    port (80, 443), no trailing slash. ``http://GPU1:80/v1/`` reached the same server as
    ``http://gpu1/v1`` and was taken for another endpoint on resume. A URL already so spelled, as
    most are, is unchanged, and so is the key of what the store holds for it. Other names of one
    host (``localhost`` and ``127.0.0.1``) stay apart: nothing here knows they are one."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:  # not a URL this can read: as it is
        return url
    scheme = parts.scheme.lower()
    userinfo, at, host = parts.netloc.rpartition("@")
    if port is not None:
        host = host[:host.rindex(":")]
    if port == {"http": 80, "https": 443}.get(scheme):
        port = None
    netloc = userinfo + at + host.lower() + (f":{port}" if port is not None else "")
    return urllib.parse.urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, parts.fragment))


def asked_by(arm: str, base_url: str) -> str:
    """What a row records of the arm that asked: its label and its address (``canonical_url``)."""
    return f"{arm} at {canonical_url(base_url)}"


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """One stored answer (the endpoint's text, without any prefill)."""

    key: str
    model: str
    task_id: str
    sample_index: int
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    source: str = ""
    """Which endpoint answered (``source_key`` of its identity)."""
    run_id: str = ""
    """The run that asked."""
    created_at: float = 0.0
    """When it was stored (Unix seconds)."""
    asked_by: str = ""
    """The arm of the run that asked and its address (``asked_by``; empty in rows stored before evalkit
    recorded it): a run's own answers go back only to that arm at that address."""
    answered_by: dict[str, Any] | None = None
    """What the answer named as having answered it (``retry.answered_by``: its ``model``, a LiteLLM
    proxy's deployment headers), None where the endpoint named nothing or the row predates the
    column: a resumed run's replayed answers name it in samples.jsonl, so answers a re-pointed alias
    gave before a kill count as that deployment's, not as the run's."""


def _named(answered: str) -> dict[str, Any] | None:
    """A row's ``answered_by`` (None where it is empty or not an object)."""
    try:
        value = json.loads(answered) if answered else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class ResponseStore:
    """A SQLite file of answers; safe for several processes writing at once.

    ``run_id`` is the run this store object writes for; ``reuse`` lets it read
    answers other runs stored (from the same source).
    """

    def __init__(self, path: Path, busy_timeout_s: float = 60.0, *, run_id: str = "",
                 reuse: bool = False, on_first_answer: Callable[[], None] | None = None) -> None:
        self.path = Path(path)
        self.run_id, self.reuse = run_id, reuse
        self._on_first_answer = on_first_answer
        """Called once, after the first answer this object stored is committed (the run notes that it
        has answers to keep: ``rundir.note_answers_stored``)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        if self.path.is_dir():  # SQLite would only say "unable to open database file"
            raise ConfigError(f"cannot use {self.path}: Is a directory (store.path names the store's file)")
        try:
            self._db = sqlite3.connect(str(self.path), timeout=busy_timeout_s, check_same_thread=False,
                                       isolation_level=None)
        except sqlite3.Error as exc:
            raise self._unusable(exc) from None
        try:
            self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            # WAL: readers never block the writer; NORMAL sync survives a killed process (not power loss).
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute(SCHEMA)
            self._key_answers_by_arm()
            self._add_answered_by()
        except sqlite3.Error as exc:
            self._db.close()
            raise self._unusable(exc) from None

    def _key_answers_by_arm(self) -> None:
        """Give a store an evalkit before ``asked_by`` wrote the column, and its place in the primary
        key: two arms asking one request of one deployment (two keys a proxy routes alike) each keep
        their answer, where the second was dropped and then given the first's (offline replay) or
        asked again (a resume). Rows copied from before get '' (reused by no resumed run: they cannot
        say which arm asked). Two sweep jobs may open the store at once: one rebuilds it."""
        if self._keyed_by_arm():
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if not self._keyed_by_arm():  # the other job did it meanwhile
                columns = [row[1] for row in self._db.execute("PRAGMA table_info(answers)")]
                copied = ", ".join(c for c in _COLUMNS.split(", ") if c in columns)
                self._db.execute("ALTER TABLE answers RENAME TO answers_before_asked_by")
                self._db.execute(SCHEMA)
                self._db.execute(f"INSERT OR IGNORE INTO answers ({copied}) SELECT {copied} "
                                 "FROM answers_before_asked_by")
                self._db.execute("DROP TABLE answers_before_asked_by")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _add_answered_by(self) -> None:
        """Give a store from before ``answered_by`` the column (its rows '': what answered them unsaid)."""
        if any(row[1] == "answered_by" for row in self._db.execute("PRAGMA table_info(answers)")):
            return
        try:
            self._db.execute("ALTER TABLE answers ADD COLUMN answered_by TEXT NOT NULL DEFAULT ''")
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):  # another sweep job added it meanwhile
                raise

    def _keyed_by_arm(self) -> bool:
        """Whether ``asked_by`` is in the answers table's primary key (field 5 of table_info: its place)."""
        return any(row[1] == "asked_by" and row[5] > 0
                   for row in self._db.execute("PRAGMA table_info(answers)"))

    def _unusable(self, exc: sqlite3.Error) -> ConfigError:
        """A store.path SQLite cannot open or write (not a database, a read-only place): one line."""
        return ConfigError(f"cannot use {self.path}: {exc} (store.path; store.enabled=false runs without it)")

    def get_many(self, keys: Iterable[str], source: str | None, *,
                 asked_by: str) -> dict[str, StoredResponse]:
        """The answers among ``keys`` the asking arm (``asked_by``, as the function of that name spells
        it) may reuse, by key (the newest where several are).

        ``source`` None (offline replay) accepts any source and any run, those ``asked_by`` asked
        first. This run's own answers are reused whatever deployment answered them (a proxy alias
        balanced over two answered some from the one the resumed probe did not reach, and they were
        asked again), but only by the arm that asked them, at the same address: arms of one model
        name and template send the same requests, at two URLs, or at one URL with two keys a proxy
        routes apart, and a resumed arm was given another's answers (a renamed one too).
        """
        keys = list(keys)
        if not keys:
            return {}
        where, args = f"key IN ({','.join('?' * len(keys))})", list(keys)
        if source is not None and self.reuse:
            where += " AND (source = ? OR (run_id = ? AND asked_by = ?))"
            args += [source, self.run_id, asked_by]
        elif source is not None:
            where += " AND run_id = ? AND asked_by = ?"
            args += [self.run_id, asked_by]
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM answers WHERE {where} "
                                    "ORDER BY asked_by = ?, created_at", [*args, asked_by]).fetchall()
        out = {}
        for (key, source_, run_id, model, task_id, index, text, finish, ptok, ctok, latency, created,
             asked, answered) in rows:
            out[key] = StoredResponse(key, model, task_id, index, text, finish, ptok, ctok, latency,
                                      source_, run_id, created, asked, _named(answered))  # the newest wins
        return out

    def holds_run_answers(self, asked_by: str, model: str) -> bool:
        """Whether this run stored any answer of ``model`` the arm ``asked_by`` asked."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM answers WHERE run_id = ? AND asked_by = ? AND model = ? "
                                    "LIMIT 1", (self.run_id, asked_by, model)).fetchone() is not None

    def put_many(self, responses: Iterable[StoredResponse]) -> None:
        """Store answers in one transaction under this store's run (a repeated key keeps its first)."""
        now = time.time()
        rows = [(r.key, r.source, self.run_id, r.model, r.task_id, r.sample_index, r.text, r.finish_reason,
                 r.prompt_tokens, r.completion_tokens, r.latency_s, now, r.asked_by,
                 "" if r.answered_by is None else json.dumps(r.answered_by, sort_keys=True, default=str))
                for r in responses]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    f"INSERT OR IGNORE INTO answers ({_COLUMNS}) VALUES ({', '.join('?' * len(rows[0]))})",
                    rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            first, self._on_first_answer = self._on_first_answer, None
        if first is not None:
            first()

    def count(self) -> int:
        """Number of stored answers."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
