"""Recorded transcripts: every frame both ways, every handshake and close, with the harness's intent beside them.

A transcript is the only input of the rule engine. It carries, next to what went over the wire, notes on what the
harness meant (which token kind a handshake presented, which run a start message asked for), so that a transcript
loaded back from JSON Lines can be judged offline exactly as it was live.

Secrets never enter a transcript: a :class:`Redactor` replaces the presented token (raw, base64url, signature) and
the signing secret with markers *before* a text is stored or parsed. SEC-2 is then judged from the markers.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

__all__ = [
    "MARKERS",
    "Direction",
    "Kind",
    "Record",
    "Redactor",
    "Transcript",
]

FORMAT_VERSION = 1


class Direction(str, Enum):
    SENT = "sent"
    RECEIVED = "received"


class Kind(str, Enum):
    HANDSHAKE = "handshake"
    TEXT = "text"
    BINARY = "binary"
    CLOSE = "close"
    PING = "ping"  # a protocol-level ping and whether it was answered (ROB-5)
    HTTP = "http"  # a plain HTTP probe such as GET /health (ISO-4)


TOKEN_B64 = "[REDACTED-TOKEN-B64]"
TOKEN = "[REDACTED-TOKEN]"
SIGNATURE = "[REDACTED-SIGNATURE]"
SECRET = "[REDACTED-SECRET]"
MARKERS = (TOKEN_B64, TOKEN, SIGNATURE, SECRET)


def b64url(text: str) -> str:
    """base64url without padding, the browser-safe subprotocol form of a token."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class Redactor:
    """Replaces a connection's token forms and the secret with markers; longest first so forms nest cleanly."""

    pairs: tuple[tuple[str, str], ...] = ()

    @classmethod
    def for_token(cls, token: str | None, secret: str | None = None, *others: str | None) -> Redactor:
        """Markers for ``token`` (and for ``others``, further tokens the same connection presents) and the secret."""
        pairs: list[tuple[str, str]] = []
        for each in (token, *others):
            if each:
                pairs += [(each, TOKEN), (b64url(each), TOKEN_B64)]
                signature = each.rsplit(".", 1)[-1]
                if len(signature) >= 16:
                    pairs.append((signature, SIGNATURE))
        if secret:
            pairs.append((secret, SECRET))
        pairs.sort(key=lambda pair: len(pair[0]), reverse=True)
        return cls(tuple(pairs))

    def __call__(self, text: str) -> str:
        for needle, marker in self.pairs:
            if needle in text:
                text = text.replace(needle, marker)
        return text

    def deep(self, value: Any) -> Any:
        """Redact every string inside a JSON-like value."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(str(k)): self.deep(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.deep(v) for v in value]
        return value


@dataclass(slots=True)
class Record:
    """One thing that happened on one connection.

    ``frame`` is the parsed JSON of a text frame (``None`` when it is not JSON); ``info`` holds handshake outcomes
    (status, body, headers, subprotocol, error) and close details (code, reason, by); ``note`` holds the harness's
    intent (token kind, transport, E2E headers, a run start). ``t`` is monotonic seconds since the transcript began.
    """

    seq: int
    conn: str
    user: str | None
    t: float
    direction: Direction
    kind: Kind
    text: str | None = None
    frame: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    note: dict[str, Any] = field(default_factory=dict)
    type: str | None = field(init=False, default=None)
    """The frame's ``type`` when it is a JSON object with a string type (read once: rules ask for it often)."""

    def __post_init__(self) -> None:
        frame = self.frame
        if isinstance(frame, dict):
            value = frame.get("type")
            if isinstance(value, str):
                self.type = value

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "seq": self.seq,
            "conn": self.conn,
            "user": self.user,
            "t": round(self.t, 6),
            "direction": self.direction.value,
            "kind": self.kind.value,
        }
        if self.text is not None:
            data["text"] = self.text
        for name in ("info", "note"):
            value = getattr(self, name)
            if value:
                data[name] = value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """A record of a transcript file; :class:`ValueError` (or ``KeyError``/``TypeError``) naming the first field
        that is not what :meth:`to_dict` writes, so a damaged file gets one line, never a verdict on garbage."""
        text, info, note = data.get("text"), data.get("info") or {}, data.get("note") or {}
        _check_types(
            {
                "conn": (data["conn"], str),
                "user": (data.get("user"), OPTIONAL_TEXT),
                "text": (text, OPTIONAL_TEXT),
                "info": (info, dict),
                "note": (note, dict),
            }
        )
        _check_types({f"info.{name}": (info[name], wanted) for name, wanted in INFO_TYPES.items() if name in info})
        start = note.get("start")
        if start is not None:
            _check_types({"note.start": (start, dict)})
            _check_types({f"note.start.{name}": (start.get(name), OPTIONAL_TEXT) for name in START_TEXTS})
        return cls(
            seq=int(data["seq"]),
            conn=data["conn"],
            user=data.get("user"),
            t=float(data["t"]),
            direction=Direction(data["direction"]),
            kind=Kind(data["kind"]),
            text=text,
            frame=parse_json(text) if text is not None else None,
            info=dict(info),
            note=dict(note),
        )


OPTIONAL_TEXT = (str, type(None))
INFO_TYPES: dict[str, type | tuple[type, ...]] = {
    "status": (int, type(None)),
    "code": (int, type(None)),
    "body": str,
    "reason": str,
    "by": str,
    "error": OPTIONAL_TEXT,
    "headers": dict,
    "subprotocol": OPTIONAL_TEXT,
    "answered": bool,
    "size": int,
}
"""What the client writes under ``info`` (handshake, close, ping and probe details) and the rules read."""
START_TEXTS = ("agent", "request", "run_id", "thread_id", "scenario", "claims_user", "learned")
"""The fields of a run's start note (what the harness asked for) that the rules read as text."""


def _check_types(fields: dict[str, tuple[Any, type | tuple[type, ...]]]) -> None:
    for name, (value, wanted) in fields.items():
        if not isinstance(value, wanted):
            raise ValueError(f"{name} is {type(value).__name__}")


def parse_json(text: str) -> Any:
    """Parsed JSON, or ``None`` for text that is not JSON (the rules grade that; recording never fails).

    Whatever a target sends goes through here, so the parser's own limits must not raise: an integer past Python's
    4,300-digit conversion limit is valid JSON (RFC 8259 sets no limit) and becomes a float, and nesting too deep for
    the parser's recursion reads as not JSON, as it does for the reference server.
    """
    try:
        return json.loads(text, parse_int=_json_int)
    except (ValueError, RecursionError):
        return None


def _json_int(digits: str) -> int | float:
    try:
        return int(digits)
    except ValueError:
        return float(digits)


@dataclass
class Transcript:
    """An append-only list of records plus metadata (target, environment, versions)."""

    meta: dict[str, Any] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Record:
        return self.records[index]

    def add(
        self,
        conn: str,
        user: str | None,
        t: float,
        direction: Direction,
        kind: Kind,
        *,
        text: str | None = None,
        info: dict[str, Any] | None = None,
        note: dict[str, Any] | None = None,
    ) -> Record:
        """Append one record; ``text`` must already be redacted. Parsing happens here, once."""
        record = Record(
            seq=len(self.records),
            conn=conn,
            user=user,
            t=t,
            direction=direction,
            kind=kind,
            text=text,
            frame=parse_json(text) if text is not None and kind is Kind.TEXT else None,
            info=info or {},
            note=note or {},
        )
        self.records.append(record)
        return record

    def dumps(self) -> str:
        """JSON Lines: a header line with the metadata, then one record per line."""
        lines = [json.dumps({"wsagent_transcript": FORMAT_VERSION, "meta": self.meta}, sort_keys=True)]
        lines.extend(json.dumps(r.to_dict(), ensure_ascii=False) for r in self.records)
        return "\n".join(lines) + "\n"

    @classmethod
    def loads(cls, text: str) -> Transcript:
        """Load a transcript written by :meth:`dumps`; raises ``ValueError`` naming the bad line."""
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise ValueError("empty transcript")
        header = _load_line(lines[0], 1)
        if not isinstance(header, dict) or "wsagent_transcript" not in header:
            raise ValueError("line 1: not a wsagent transcript header")
        records = []
        for number, line in enumerate(lines[1:], start=2):
            data = _load_line(line, number)
            try:
                records.append(Record.from_dict(data))
            except (KeyError, TypeError, ValueError, OverflowError) as exc:
                raise ValueError(f"line {number}: not a transcript record ({exc})") from None
        return cls(meta=dict(header.get("meta") or {}), records=records)

    @classmethod
    def load(cls, path: str | Path) -> Transcript:
        return cls.loads(Path(path).read_text(encoding="utf-8"))


def _load_line(line: str, number: int) -> Any:
    try:
        return json.loads(line)
    except ValueError as exc:
        raise ValueError(f"line {number}: invalid JSON ({exc.args[0]})") from None
    except RecursionError:
        raise ValueError(f"line {number}: invalid JSON (nested too deep)") from None
