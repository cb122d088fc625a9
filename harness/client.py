"""The recording client: opens WebSocket connections to a target and writes everything into one transcript.

The client records; it never judges. A refused handshake, a refused TCP connection or a timeout is a record (a
``handshake`` with the HTTP status, or ``status: None`` and an ``error``), not an exception: the rules grade the
record, and the caller decides whether an unanswered handshake is a :class:`harness.errors.TargetError`.

Every text passes through the connection's :class:`harness.transcript.Redactor` before it is stored, so the token
and the secret never enter a transcript (SEC-2 is judged from the markers).

Waiting never sleeps: each connection keeps a reader task that records frames and resolves the futures of
:meth:`Connection.wait_for`; terminal frames are indexed by run id as they arrive, so
:meth:`Connection.wait_for_terminal` is a dictionary lookup. Built for 1,000+ connections in one process: no
per-frame logging, one JSON parse per frame (in :meth:`harness.transcript.Transcript.add`).

Typical use::

    async with Session(url, secret=secret) as session:
        conn = await session.connect("alice", token)
        run = await conn.start_run("researcher", "find facts")
        await conn.wait_for_terminal(run.run_id)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from ipaddress import ip_address
from typing import Any, Final, Literal
from urllib.parse import quote, urlsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as handshake
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.http11 import Response
from websockets.protocol import State

from harness.e2e import default_headers, headers_count
from harness.ids import DEFAULT_RUN_ID, DEFAULT_THREAD_ID, IdPattern
from harness.template import DEFAULT_START_TEMPLATE, StartTemplate
from harness.normalize import ERROR_TYPES, RUN_TYPES, TERMINAL_TYPES, run_id_of
from harness.transcript import Direction, Kind, Record, Redactor, Transcript, b64url

__all__ = ["AUTO", "Connection", "RunHandle", "Session"]

Transport = Literal["bearer", "subprotocol", "subprotocol_raw", "query", "bearer_and_subprotocol", "none"]
TRANSPORTS: Final = ("bearer", "subprotocol", "subprotocol_raw", "query", "bearer_and_subprotocol", "none")
"""``bearer_and_subprotocol``: the token in the Bearer header, and a second token (``subprotocol_token``) in a
``jwt.<base64url>`` entry beside it (PROTOCOL §1: the header's token is used, the ``jwt.`` entry still selected)."""
BODY_LIMIT = 4096
"""Characters of a refusal body kept in the handshake record: enough for any AUTH_FAILED JSON."""
CHAT_AGENT: Final = "echo"
"""The agent that ``user_message`` and ``chat`` run (PROTOCOL §3)."""


class _Auto(Enum):
    AUTO = "auto"


AUTO: Final = _Auto.AUTO
"""``start_run`` id marker: the harness generates the id (``None`` omits it, so the server creates one)."""


def _is_frame(record: Record) -> bool:
    return record.kind is Kind.TEXT or record.kind is Kind.BINARY


def _one_line(exc: BaseException) -> str:
    """The error and its cause: websockets says "did not receive a valid HTTP response" both for silence and for an
    answer it cannot parse (an HTTP/1.0 status line); the cause tells which."""
    text = " ".join(str(exc).split()) or "no detail"
    cause = exc.__cause__
    return f"{type(exc).__name__}: {text}" + (f" ({_one_line(cause)})" if cause is not None else "")


def is_loopback(host: str | None) -> bool:
    """``localhost`` or a loopback address: a target on this machine (no proxy, and noisy cases may run)."""
    if host == "localhost":
        return True
    try:
        return ip_address(host or "").is_loopback
    except ValueError:
        return False


def _capturing(made: list[ClientConnection]) -> type[ClientConnection]:
    """A connection factory that keeps what it made, so a failed handshake's HTTP response can still be read."""

    def create(*args: Any, **kwargs: Any) -> ClientConnection:
        connection = ClientConnection(*args, **kwargs)
        made.append(connection)
        return connection

    return create  # type: ignore[return-value]  # websockets calls it like the class


def _handshake_info(response: Response | None, error: str | None, redact: Redactor) -> dict[str, Any]:
    """The HANDSHAKE record's ``info``: what the target answered (redacted), or only the error when it did not."""
    info: dict[str, Any] = {"status": None, "body": "", "headers": {}, "subprotocol": None, "error": error}
    if response is None:
        return info
    headers: dict[str, str] = {}
    for name, value in response.headers.raw_items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    selected = headers.get("sec-websocket-protocol")
    info.update(
        status=response.status_code,
        body=redact(bytes(response.body).decode("utf-8", "replace"))[:BODY_LIMIT],
        headers={k: redact(v) for k, v in headers.items()},
        subprotocol=redact(selected) if selected else None,
    )
    return info


@dataclass(frozen=True, slots=True)
class RunHandle:
    """A started run: the ids the harness gave (``None`` where the server creates them) and the start record."""

    run_id: str | None
    thread_id: str | None
    record: Record | None
    """The SENT record of the start message; ``None`` when the connection was already closed."""


class Session:
    """Connections to one target sharing one transcript and one clock; closes them all on exit."""

    def __init__(
        self,
        url: str,
        transcript: Transcript | None = None,
        *,
        secret: str | None = None,
        environment: str = "development",
        open_timeout: float = 5.0,
        default_timeout: float = 10.0,
        extra_headers: Mapping[str, str] | None = None,
        ssl: Any = None,
        start_template: str | None = None,
        thread_ids: str = DEFAULT_THREAD_ID,
        run_ids: str = DEFAULT_RUN_ID,
        learned: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self.transcript = transcript if transcript is not None else Transcript()
        self.secret = secret
        self.environment = environment
        self.open_timeout = open_timeout
        self.default_timeout = default_timeout
        self.extra_headers = dict(extra_headers or {})
        self.ssl = ssl
        self.template = StartTemplate(start_template or DEFAULT_START_TEMPLATE)
        self.thread_ids = IdPattern(thread_ids, "thread-id")
        self.run_ids = IdPattern(run_ids, "run-id")
        self.learned: dict[str, str] = learned if learned is not None else {}
        """What this target showed once and for all (shared by the sessions of one target): ``ping`` when an
        application ping went unanswered, so later barriers do not wait out their timeout again."""
        self.connections: list[Connection] = []
        self.started = False
        self._t0 = time.monotonic()
        self._counters: dict[str | None, itertools.count[int]] = {}

    def clock(self) -> float:
        """Seconds since the session was created: the ``t`` of every record."""
        return time.monotonic() - self._t0

    async def __aenter__(self) -> Session:
        self.started = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(conn.close() for conn in self.connections))
        self.started = False

    async def connect(
        self,
        user: str | None,
        token: str | None,
        *,
        transport: Transport = "bearer",
        e2e: bool | str = False,
        token_kind: str = "valid",
        label: str | None = None,
        e2e_headers: Sequence[tuple[str, str]] | None = None,
        subprotocol_token: tuple[str | None, str | None] | None = None,
    ) -> Connection:
        """Attempt one connection and record its handshake; refusals and network failures are returned, not raised.

        ``e2e`` sends the E2E headers (PROTOCOL §2); a string replaces the environment in ``X-Test-Environment``.
        ``e2e_headers`` sends exactly these headers instead (the note records them, and whether they count).
        ``subprotocol_token`` is the (user, token) of the ``jwt.`` entry of ``bearer_and_subprotocol``.
        The returned connection is ``accepted`` only when the upgrade succeeded; it then holds the first frame
        (normally ``connection_established``) in :attr:`Connection.hello`, awaited up to the open timeout.
        """
        if transport not in TRANSPORTS:
            raise ValueError(f"transport must be one of {', '.join(TRANSPORTS)}, not {transport!r}")
        second_user, second = subprotocol_token or (None, None)
        redact = Redactor.for_token(token, self.secret, second)
        url, headers, offered = self._request(token, transport, e2e, second)
        if e2e_headers is not None:
            headers += e2e_headers
        made: list[ClientConnection] = []
        ws: ClientConnection | None = None
        error: str | None = None
        try:
            ws = await self._opening(
                url,
                headers,
                offered,
                max_size=None,  # record whatever the target sends; judging sizes is the rules' business
                create_connection=_capturing(made),
            )
        except InvalidStatus:
            pass
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            error = redact(_one_line(exc))
        info = _handshake_info(made[-1].response if made else None, error, redact)
        note = {
            "token": str(token_kind),
            "transport": transport,
            "e2e": bool(e2e) if e2e_headers is None else headers_count(e2e_headers),
            "offered": [redact(entry) for entry in offered],
            "path": urlsplit(self.url).path,
        }
        if e2e_headers is not None:
            note["e2e_headers"] = [list(pair) for pair in e2e_headers]
        if transport == "bearer_and_subprotocol":
            note["subprotocol_user"] = second_user
        conn = Connection(self, label or self._label(user), user, redact, ws)
        self.connections.append(conn)
        conn.handshake = self.transcript.add(
            conn.label, user, self.clock(), Direction.RECEIVED, Kind.HANDSHAKE, info=info, note=note
        )
        if ws is not None:
            conn.start()
            await conn.wait_for(_is_frame, self.open_timeout)
        return conn

    async def attempt(self, token: str | None, transport: Transport) -> tuple[int | None, str | None]:
        """Open and close one connection carrying ``token`` by ``transport``, unrecorded. For diagnoses only.

        Upgraded: 101 and the first frame (``None`` when none came within the open timeout); refused: the HTTP status
        and the body; no answer: ``None`` and the error."""
        url, headers, offered = self._request(token, transport, False)
        redact = Redactor.for_token(token, self.secret)
        try:
            async with self._opening(url, headers, offered) as ws:
                try:
                    first = await asyncio.wait_for(ws.recv(), self.open_timeout)
                except (TimeoutError, ConnectionClosed):
                    return 101, None
                return 101, redact(first) if isinstance(first, str) else f"a binary frame of {len(first)} bytes"
        except InvalidStatus as exc:
            return exc.response.status_code, redact(exc.response.body.decode("utf-8", "replace"))
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            return None, redact(_one_line(exc))

    def _opening(self, url: str, headers: list[tuple[str, str]], offered: list[str], **extra: Any) -> handshake:
        """The handshake every connection of the session makes (await it, or use it as a context manager)."""
        return handshake(
            url,
            additional_headers=headers,
            subprotocols=offered or None,  # type: ignore[arg-type]
            open_timeout=self.open_timeout,
            close_timeout=self.open_timeout,
            ping_interval=None,  # the harness pings on purpose (ws_ping), never behind the rules' back
            compression=None,
            **self._network_options(url),
            **extra,
        )

    def _request(
        self, token: str | None, transport: str, e2e: bool | str, second: str | None = None
    ) -> tuple[str, list[tuple[str, str]], list[str]]:
        """The URL, headers and offered subprotocols that carry ``token`` by ``transport`` (``second``: the ``jwt.``
        entry's token of ``bearer_and_subprotocol``)."""
        url = self.url
        headers = list(self.extra_headers.items())
        offered: list[str] = []
        if transport in ("subprotocol", "subprotocol_raw", "bearer_and_subprotocol"):
            entry = second if transport == "bearer_and_subprotocol" else token
            offered.append("jwt-auth")
            if entry is not None:
                offered.append(f"jwt.{entry if transport == 'subprotocol_raw' else b64url(entry)}")
        if token is not None and transport in ("bearer", "bearer_and_subprotocol"):
            headers.append(("Authorization", f"Bearer {token}"))
        elif token is not None and transport == "query":
            url += ("&" if urlsplit(url).query else "?") + "token=" + quote(token, safe="")
        if e2e:
            headers += default_headers(e2e if isinstance(e2e, str) else self.environment)
        return url, headers, offered

    def _network_options(self, url: str) -> dict[str, Any]:
        """TLS for wss:// targets; no proxy for loopback targets (a CI proxy must not swallow the embedded server)."""
        options: dict[str, Any] = {}
        if self.ssl is not None:
            options["ssl"] = self.ssl
        if is_loopback(urlsplit(url).hostname):
            options["proxy"] = None
        return options

    def _label(self, user: str | None) -> str:
        counter = self._counters.setdefault(user, itertools.count(1))
        return f"{user or 'anonymous'}#{next(counter)}"


Waiter = tuple[Callable[[Record], bool], "asyncio.Future[Record | None]"]


class Connection:
    """One connection attempt: its handshake record, then (when accepted) everything both ways until the close."""

    def __init__(
        self, session: Session, label: str, user: str | None, redact: Redactor, ws: ClientConnection | None
    ) -> None:
        self.session = session
        self.label = label
        self.user = user
        self.handshake: Record | None = None
        self.received: list[Record] = []
        """What the reader recorded, in order: received frames, then the close (whoever closed)."""
        self.closed: Record | None = None
        """The CLOSE record (``info``: code, reason, by) once the connection has ended."""
        self._redact = redact
        self._ws = ws
        self._reader: asyncio.Task[None] | None = None
        self._waiters: list[Waiter] = []
        self._terminals: dict[str, Record] = {}
        self._given_runs: set[str] = set()
        self._claimed: set[str] = set()
        self._first_seen: dict[str, int] = {}
        """The seq of the first frame of each run id: a server-named run is one first seen after its start."""
        self._pings_sent = 0
        self._pongs: list[Record] = []
        self._closing = False

    @property
    def accepted(self) -> bool:
        """The upgrade succeeded and the client holds an open (or since closed) WebSocket."""
        return self._ws is not None

    @property
    def status(self) -> int | None:
        return self.handshake.info.get("status") if self.handshake else None

    @property
    def subprotocol(self) -> str | None:
        return self.handshake.info.get("subprotocol") if self.handshake else None

    @property
    def hello(self) -> Record | None:
        """The first received frame (a correct target sends ``connection_established``)."""
        return next((r for r in self.received if _is_frame(r)), None)

    @property
    def open(self) -> bool:
        return self._ws is not None and self._ws.state is State.OPEN

    def start(self) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._read(), name=f"wsagent reader {self.label}")

    # --- recording -----------------------------------------------------------------------------------------------

    def _add(
        self,
        direction: Direction,
        kind: Kind,
        *,
        text: str | None = None,
        info: dict[str, Any] | None = None,
        note: dict[str, Any] | None = None,
        t: float | None = None,
    ) -> Record:
        t = self.session.clock() if t is None else t
        return self.session.transcript.add(self.label, self.user, t, direction, kind, text=text, info=info, note=note)

    async def _read(self) -> None:
        assert self._ws is not None
        ws = self._ws
        try:
            while True:
                message = await ws.recv()
                if isinstance(message, str):
                    self._received(self._add(Direction.RECEIVED, Kind.TEXT, text=self._redact(message)))
                else:
                    self._received(self._add(Direction.RECEIVED, Kind.BINARY, info={"size": len(message)}))
        except ConnectionClosed:
            pass
        by, code, reason = self._close_details()
        direction = Direction.SENT if by == "client" else Direction.RECEIVED
        self.closed = self._add(direction, Kind.CLOSE, info={"code": code, "reason": reason, "by": by})
        self._received(self.closed)
        for _, future in self._waiters:
            if not future.done():
                future.set_result(None)  # nothing more can arrive
        self._waiters.clear()

    def _close_details(self) -> tuple[str, int, str]:
        """Who closed first, with the code and reason of their close frame (1006 and "" when there was none)."""
        assert self._ws is not None
        protocol = self._ws.protocol
        rcvd, sent = protocol.close_rcvd, protocol.close_sent
        if rcvd is not None and (sent is None or protocol.close_rcvd_then_sent):
            return "server", rcvd.code, self._redact(rcvd.reason)
        if sent is not None:
            return "client", sent.code, self._redact(sent.reason)
        return ("client" if self._closing else "server"), 1006, ""

    def _received(self, record: Record) -> None:
        self.received.append(record)
        kind = record.type
        if kind in RUN_TYPES:
            run_id = run_id_of(record.frame)
            if isinstance(run_id, str):
                self._first_seen.setdefault(run_id, record.seq)
                if kind in TERMINAL_TYPES:
                    self._terminals.setdefault(run_id, record)
        elif kind == "pong":
            self._pongs.append(record)
        if self._waiters:
            pending = []
            for predicate, future in self._waiters:
                if future.done():
                    continue
                if predicate(record):
                    future.set_result(record)
                else:
                    pending.append((predicate, future))
            self._waiters = pending

    # --- sending -------------------------------------------------------------------------------------------------

    async def _send(
        self,
        payload: str | bytes,
        kind: Kind,
        *,
        text: str | None,
        info: dict[str, Any] | None,
        note: dict[str, Any] | None,
        as_text: bool | None = None,
    ) -> Record | None:
        """Record, then send (so an answer can never be recorded before its question); ``None`` when closed."""
        if not self.open:
            return None
        assert self._ws is not None
        record = self._add(
            Direction.SENT, kind, text=None if text is None else self._redact(text), info=info, note=note
        )
        if record.type == "ping":
            self._pings_sent += 1
        try:
            await self._ws.send(payload, text=as_text)
        except ConnectionClosed:
            record.info["error"] = "the connection closed before this was sent"
            return None
        return record

    async def send_text(self, text: str, note: dict[str, Any] | None = None) -> bool:
        """Send one text frame; ``False`` (and nothing recorded) when the connection is already closed."""
        return await self._send(text, Kind.TEXT, text=text, info=None, note=note) is not None

    async def send_json(self, obj: Any, note: dict[str, Any] | None = None) -> bool:
        return await self.send_text(json.dumps(obj), note)

    async def send_bytes(self, data: bytes, note: dict[str, Any] | None = None) -> bool:
        return await self._send(data, Kind.BINARY, text=None, info={"size": len(data)}, note=note) is not None

    async def send_raw_text(self, data: bytes, note: dict[str, Any] | None = None) -> bool:
        """Send ``data`` unchecked in a text frame (ROB-3's invalid UTF-8); recorded with bad bytes replaced."""
        text = data.decode("utf-8", "replace")
        return (
            await self._send(data, Kind.TEXT, text=text, info={"size": len(data)}, note=note, as_text=True) is not None
        )

    async def start_run(
        self,
        agent: str,
        request: str,
        *,
        run_id: str | None | _Auto = AUTO,
        thread_id: str | None | _Auto = AUTO,
        scenario: str | None = None,
        uses_tools: bool | None = None,
        claims_user: str | None = None,
        timeout: float | None = None,
        learned: str | None = None,
        refused_with: str | None = None,
    ) -> RunHandle:
        """Send a start message built from the session's template; the note keeps what was asked for.

        ``AUTO`` ids are generated to the session's patterns (``--wsagent-thread-id``, ``--wsagent-run-id``); ``None``
        omits them, and so does a template without their placeholder (the target names that run or thread).
        ``claims_user`` acts for another user (SEC-1: a payload ``user_id`` must never override the token's ``sub``):
        it fills ``{user_id}``, or is put into the payload when the template has no such placeholder. ``timeout``, how
        long the caller will wait for the run, is noted so a run that got nothing can say for how long; ``learned``, why
        the caller does not wait at all. ``refused_with`` is the error code the contract demands instead of a run (an
        agent the target cannot have: ``UNKNOWN_AGENT``); EVT-2's refusal clause holds the run to it.
        """
        thread = self.session.thread_ids.make() if thread_id is AUTO else thread_id
        if run_id is AUTO:
            run_id = self.session.run_ids.make(thread)
        assert not isinstance(run_id, _Auto) and not isinstance(thread, _Auto)
        message, spec = self.session.template.start(
            agent,
            request,
            self.user,
            thread_id=thread,
            run_id=run_id,
            scenario=scenario,
            uses_tools=uses_tools,
            claims_user=claims_user,
        )
        run_id, thread = spec["run_id"], spec["thread_id"]
        if timeout is not None:
            spec["timeout"] = timeout
        if learned:
            spec["learned"] = learned
        if refused_with:
            spec["refused_with"] = refused_with
        return await self._send_start(message, spec)

    async def start_chat(self, kind: str, request: str) -> RunHandle:
        """Start a run in the optional form of PROTOCOL §3, ``{"type": kind, "payload": {"message": request}}`` with
        ``kind`` ``user_message`` or ``chat``, which runs agent ``echo``. The ids are given as the session's patterns
        say; the spec's ``optional`` names the form, so a target without it is SKIPPED, never FAILED."""
        thread = self.session.thread_ids.make()
        run_id = self.session.run_ids.make(thread)
        fields = (("message", request), ("thread_id", thread), ("run_id", run_id))
        payload = {name: value for name, value in fields if value}
        spec: dict[str, Any] = {
            "agent": CHAT_AGENT,
            "request": request,
            "run_id": run_id,
            "thread_id": thread,
            "scenario": None,
            "uses_tools": False,
            "optional": kind,
        }
        return await self._send_start({"type": kind, "payload": payload}, spec)

    async def _send_start(self, message: dict[str, Any], spec: dict[str, Any]) -> RunHandle:
        run_id, thread = spec["run_id"], spec["thread_id"]
        if run_id is not None:
            self._given_runs.add(run_id)
        text = json.dumps(message)
        record = await self._send(text, Kind.TEXT, text=text, info=None, note={"start": spec})
        return RunHandle(run_id, thread, record)

    # --- waiting -------------------------------------------------------------------------------------------------

    async def wait_for(
        self, predicate: Callable[[Record], bool], timeout: float | None = None, *, since: int = 0
    ) -> Record | None:
        """The first record from ``received[since:]`` on (including ones still to come) that satisfies ``predicate``.

        ``None`` on timeout or when the connection ends without one; never raises for either.
        """
        for record in itertools.islice(self.received, since, None):
            if predicate(record):
                return record
        if self._reader is None or self._reader.done():
            return None
        future: asyncio.Future[Record | None] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        try:
            return await asyncio.wait_for(future, self._timeout(timeout))
        except TimeoutError:
            return None

    async def wait_for_terminal(
        self, run_id: str | None, timeout: float | None = None, *, after: int = -1
    ) -> Record | None:
        """The run's terminal frame: ``agent_completed``, or ``error``/``error_message`` carrying its run id.

        For ``run_id=None`` (the server names the run) it is the first terminal frame of a run id that the harness did
        not give, that no earlier wait was handed, and whose first frame came after ``after`` (the start message's
        seq): a late terminal of an earlier run is never taken for this one.
        """
        if run_id is None:
            return await self.wait_for(lambda record: self._claim_unnamed(record, after), timeout)
        record = self._terminals.get(run_id)
        if record is not None:
            return record
        return await self.wait_for(lambda r: self._terminals.get(run_id) is r, timeout, since=len(self.received))

    def _claim_unnamed(self, record: Record, after: int) -> bool:
        if record.type not in TERMINAL_TYPES:
            return False
        run_id = run_id_of(record.frame)
        if record.type in ERROR_TYPES and not isinstance(run_id, str):
            return record.seq > after  # a refusal of a start that gave no run id carries none either
        if not isinstance(run_id, str) or run_id in self._given_runs or run_id in self._claimed:
            return False
        if self._first_seen.get(run_id, record.seq) <= after:
            return False
        self._claimed.add(run_id)
        return True

    def answered_since(self, seq: int) -> bool:
        """Whether any run frame (an event or an error) arrived after record ``seq``."""
        return any(first > seq for first in self._first_seen.values()) or any(
            r.seq > seq and r.type in ERROR_TYPES for r in self.received
        )

    async def barrier(self, timeout: float | None = None) -> Record | None:
        """Send ``{"type":"ping"}`` and wait for its ``pong``: every frame the server sent before is recorded then.

        Pongs are counted against the pings sent, so a probe's own ``ping`` cannot end the barrier early. ``None``
        when no pong came (closed, or the target does not answer pings). A target that left one barrier unanswered
        is not waited for again (``learned["ping"]``): the ping is still sent and recorded, the rules judge what
        came, and a run against such a target costs one timeout, not one per case.
        """
        since = len(self.received)
        learned = self.session.learned.get("ping")
        note: dict[str, Any] = {"barrier": True, **({"learned": learned} if learned else {})}
        if not await self.send_json({"type": "ping"}, note=note):
            return None
        wanted = self._pings_sent
        if len(self._pongs) >= wanted:
            return self._pongs[wanted - 1]
        if learned:
            return None
        pong = await self.wait_for(
            lambda r: len(self._pongs) >= wanted and r is self._pongs[wanted - 1], timeout, since=since
        )
        if pong is None and self.open:
            self.session.learned["ping"] = f"{self.label} got no pong within {self._timeout(timeout):g} s"
        return pong

    async def wait_closed(self, timeout: float | None = None) -> Record | None:
        """The CLOSE record once the connection has ended, or ``None`` if it is still open after ``timeout``."""
        if self._reader is not None and not self._reader.done():
            await asyncio.wait({self._reader}, timeout=self._timeout(timeout))
        return self.closed

    async def ws_ping(self, timeout: float | None = None) -> bool:
        """A protocol-level ping (ROB-5), recorded as a PING record with ``answered``; ``False`` when closed."""
        if not self.open:
            return False
        assert self._ws is not None
        t = self.session.clock()
        try:
            pong = await self._ws.ping()
            await asyncio.wait_for(pong, self._timeout(timeout))
            answered = True
        except (TimeoutError, ConnectionClosed):
            answered = False
        self._add(Direction.SENT, Kind.PING, info={"answered": answered}, t=t)
        return answered

    async def close(self, code: int = 1000) -> None:
        """Close from the client side and wait until the close is recorded; does nothing if never opened."""
        if self._ws is None:
            return
        self._closing = True
        await self._ws.close(code)
        if self._reader is not None:
            await self._reader

    def _timeout(self, timeout: float | None) -> float:
        return self.session.default_timeout if timeout is None else timeout
