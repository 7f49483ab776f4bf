"""The response store: every successful answer, keyed by the exact request.

A rerun of the same configuration finds its answers here and makes no model
call; a killed run resumes from what was stored; ``model.offline=true`` answers
only from here. SQLite in WAL mode with a busy timeout, so parallel sweep jobs
can share one file. Error responses are never stored.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    task_id TEXT NOT NULL,
    sample_index INTEGER NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    created_at REAL NOT NULL
)
"""


def request_key(model: str, api: str, body: Mapping[str, Any], sample_index: int) -> str:
    """sha256 over the served model id, the API, the full request body and the sample index."""
    blob = json.dumps({"model": model, "api": api, "body": body, "sample_index": sample_index},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


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


class ResponseStore:
    """A SQLite file of answers; safe for several processes writing at once."""

    def __init__(self, path: Path, busy_timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), timeout=busy_timeout_s, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        # WAL: readers never block the writer; NORMAL sync survives a killed process (not power loss).
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute(SCHEMA)

    def get_many(self, keys: Iterable[str]) -> dict[str, StoredResponse]:
        """The stored responses among ``keys``, by key."""
        keys = list(keys)
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        with self._lock:
            rows = self._db.execute(
                "SELECT key, model, task_id, sample_index, text, finish_reason, prompt_tokens,"
                f" completion_tokens, latency_s FROM responses WHERE key IN ({marks})", keys).fetchall()
        return {row[0]: StoredResponse(*row) for row in rows}

    def put_many(self, responses: Iterable[StoredResponse]) -> None:
        """Store answers in one transaction (an existing key keeps its first answer)."""
        now = time.time()
        rows = [(r.key, r.model, r.task_id, r.sample_index, r.text, r.finish_reason, r.prompt_tokens,
                 r.completion_tokens, r.latency_s, now) for r in responses]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def count(self) -> int:
        """Number of stored answers."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> ResponseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
