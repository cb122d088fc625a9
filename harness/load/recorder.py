"""A recording WebSocket connection for load users: blocking calls that gevent turns cooperative.

Locust users are greenlets. :mod:`websocket` (websocket-client) does plain blocking socket I/O, which Locust's
monkey-patching makes yield to other greenlets, so one user waiting for a frame never holds the others (the
asyncio client of :mod:`harness.client` would need an event loop per greenlet). What it records is the suite's
transcript format — the same handshake ``info``/``note``, the ``start`` note on the start message, texts passed
through the connection's :class:`~harness.transcript.Redactor` — so :func:`harness.judge.judge` and
``wsagent check`` read a load transcript as they read a suite's.

A connection records one *slice* per run: its handshake record, the start message and every frame received
until the run's terminal frame (or the timeout). The slice is handed to the judge and forgotten, so a user that
runs for hours holds one run's frames at a time.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import websocket

from harness.normalize import TERMINAL_TYPES
from harness.ids import IdPattern
from harness.template import StartTemplate
from harness.normalize import run_id_of
from harness.transcript import Direction, Kind, Redactor, Transcript

__all__ = ["ConnectOptions", "LoadConnection", "clock"]

BODY_LIMIT = 4096
_T0 = time.monotonic()


def clock() -> float:
    """Seconds since this process started: every record of every user shares it, so batches of slices stay ordered."""
    return time.monotonic() - _T0


@dataclass(frozen=True)
class ConnectOptions:
    """How every connection of a process reaches the target (from the resolved harness configuration)."""

    url: str
    environment: str
    secret: str | None
    open_timeout: float
    headers: tuple[tuple[str, str], ...] = ()
    ca_bundle: str | None = None
    insecure: bool = False

    def sslopt(self) -> dict[str, Any]:
        if not self.url.startswith("wss://"):
            return {}
        if self.insecure:
            return {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
        return {"ca_certs": self.ca_bundle} if self.ca_bundle else {}


class LoadConnection:
    """One user's connection: :meth:`open` records the handshake, :meth:`run` one run's slice, :meth:`close` ends it."""

    def __init__(self, options: ConnectOptions, label: str, user: str, redact: Redactor) -> None:
        self.options = options
        self.label = label
        self.user = user
        self._redact = redact
        self._ws: websocket.WebSocket | None = None
        self._handshake: tuple[float, dict[str, Any], dict[str, Any]] | None = None
        self.handshake_ms: float = 0.0

    @classmethod
    def open(cls, options: ConnectOptions, label: str, user: str, token: str) -> LoadConnection:
        """Attempt the handshake (bearer token); refusals and network errors are recorded, never raised."""
        conn = cls(options, label, user, Redactor.for_token(token, options.secret))
        began = clock()
        response: dict[str, Any] = {"status": None, "body": "", "headers": {}, "subprotocol": None, "error": None}
        try:
            ws = websocket.create_connection(
                options.url,
                timeout=options.open_timeout,
                header=[f"{name}: {value}" for name, value in (*options.headers, ("Authorization", f"Bearer {token}"))],
                sslopt=options.sslopt(),
                skip_utf8_validation=True,
                enable_multithread=False,
            )
            conn._ws = ws
            response.update(
                status=ws.getstatus(), headers=conn._headers(ws.getheaders()), subprotocol=ws.getsubprotocol()
            )
        except websocket.WebSocketBadStatusException as exc:
            body = (
                exc.resp_body.decode("utf-8", "replace")
                if isinstance(exc.resp_body, bytes)
                else str(exc.resp_body or "")
            )
            response.update(
                status=exc.status_code, body=conn._redact(body)[:BODY_LIMIT], headers=conn._headers(exc.resp_headers)
            )
        except (OSError, websocket.WebSocketException) as exc:
            response["error"] = conn._redact(f"{type(exc).__name__}: {' '.join(str(exc).split()) or 'no detail'}")
        conn.handshake_ms = (clock() - began) * 1000
        note = {
            "token": "valid",
            "transport": "bearer",
            "e2e": False,
            "offered": [],
            "path": urlsplit(options.url).path,
        }
        conn._handshake = (clock(), response, note)
        return conn

    @property
    def accepted(self) -> bool:
        return self._ws is not None

    @property
    def error(self) -> str:
        """Why the handshake failed, in one line (empty when it succeeded)."""
        assert self._handshake is not None
        info = self._handshake[1]
        return info["error"] or f"HTTP {info['status']}"

    def slice(self) -> Transcript:
        """A fresh transcript holding only this connection's handshake: the start of every run's slice."""
        assert self._handshake is not None
        t, info, note = self._handshake
        transcript = Transcript(meta={"environment": self.options.environment, "source": "wsagent load"})
        transcript.add(self.label, self.user, t, Direction.RECEIVED, Kind.HANDSHAKE, info=dict(info), note=dict(note))
        return transcript

    def run(
        self, template: StartTemplate, ids: tuple[IdPattern, IdPattern], agent: str, request: str, timeout: float
    ) -> Transcript:
        """Start one run and record until its terminal frame, the timeout or the close; the slice is returned.

        The start message and its ids come from the same template and id forms as `wsagent run`'s (a profile's too);
        a run the target names itself ends at the first terminal frame of a run id it did not give."""
        assert self._ws is not None
        ws = self._ws
        transcript = self.slice()
        threads, runs = ids
        thread = threads.make()
        message, spec = template.start(
            agent, request, self.user, thread_id=thread, run_id=runs.make(thread), uses_tools=True
        )
        run_id = spec["run_id"]
        text = json.dumps(message)
        transcript.add(
            self.label, self.user, clock(), Direction.SENT, Kind.TEXT, text=self._redact(text), note={"start": spec}
        )
        deadline = time.monotonic() + timeout
        try:
            ws.send(text)
            while (remaining := deadline - time.monotonic()) > 0:
                ws.settimeout(remaining)
                opcode, data = ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    self._closed(transcript, "server", data)
                    break
                if opcode == websocket.ABNF.OPCODE_TEXT:
                    record = transcript.add(
                        self.label,
                        self.user,
                        clock(),
                        Direction.RECEIVED,
                        Kind.TEXT,
                        text=self._redact(data.decode("utf-8", "replace")),
                    )
                    if record.type in TERMINAL_TYPES and (run_id is None or run_id_of(record.frame) == run_id):
                        break
                else:
                    transcript.add(
                        self.label, self.user, clock(), Direction.RECEIVED, Kind.BINARY, info={"size": len(data)}
                    )
        except websocket.WebSocketTimeoutException:
            pass  # the slice shows the missing terminal frame; the rules grade it
        except (OSError, websocket.WebSocketException):
            self._closed(transcript, "server", b"")
        return transcript

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._ws.close(timeout=self.options.open_timeout)
            except (OSError, websocket.WebSocketException):
                pass
            self._ws = None

    def _closed(self, transcript: Transcript, by: str, payload: bytes) -> None:
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1006
        reason = self._redact(payload[2:].decode("utf-8", "replace"))
        transcript.add(
            self.label,
            self.user,
            clock(),
            Direction.RECEIVED,
            Kind.CLOSE,
            info={"code": code, "reason": reason, "by": by},
        )
        self._ws = None

    def _headers(self, headers: Mapping[str, str] | None) -> dict[str, str]:
        return {str(name).lower(): self._redact(str(value)) for name, value in (headers or {}).items()}
