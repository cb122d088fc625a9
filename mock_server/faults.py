"""Switchable faults: realistic bugs the conformance suite must catch, one or more per requirement ID.

Each fault is a local branch in the room where the real bug would live (``room`` below): ``auth.py`` skips a
check, ``manager.py`` registers a connection twice, ``bridge.py`` swallows a resolution failure, and so on. There
is no central output rewriter: a fault changes how a room behaves, and the frames change as a consequence.

``breaks`` declares, per requirement ID, the grade the harness must give when the fault is on (FAILED, or
NON-STRICT where the contract tolerates the behaviour); the self-test (tests/test_selftest.py) holds the suite to
it. Only IDs the contract really grades that way are declared. ``collateral`` names, per ID, why another ID fails
too when the whole suite runs (one defect should raise one alarm, so it is rare and each entry says why); a SEC-*
or ISO-* ID is never collateral of a fault that is not about security or isolation. Enable with ``--fault NAME`` (repeatable) or
``WSAGENT_FAULTS=a,b``; list with ``--list-faults [--json]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

from mock_server.errors import UnknownFault
from mock_server.switches import Switches

__all__ = ["CATALOG", "Fault", "FaultName", "Faults", "Grade", "NO_FAULTS"]

Grade = Literal["FAILED", "NON-STRICT"]


class FaultName(StrEnum):
    # auth.py / server.py handshake
    EXPIRED_TOKEN_ACCEPTED = "expired_token_accepted"
    QUERY_TOKEN_IN_PRODUCTION = "query_token_in_production"
    BEARER_HEADER_IGNORED = "bearer_header_ignored"
    SUBPROTOCOL_NOT_ECHOED = "subprotocol_not_echoed"
    RAW_SUBPROTOCOL_REJECTED = "raw_subprotocol_rejected"
    HELLO_USER_ID_FROM_EMAIL = "hello_user_id_from_email"
    ENV_CLAIM_IGNORED = "env_claim_ignored"
    OTHER_ENV_DEFAULT_SECRET_ACCEPTED = "other_env_default_secret_accepted"
    TOKEN_ECHOED_IN_REJECTION = "token_echoed_in_rejection"
    MISSING_TOKEN_ANONYMOUS = "missing_token_anonymous"
    NBF_NOT_VERIFIED = "nbf_not_verified"
    ALG_NONE_ACCEPTED = "alg_none_accepted"
    AUDIENCE_NOT_CHECKED = "audience_not_checked"
    TOKEN_TYPE_NOT_CHECKED = "token_type_not_checked"
    JTI_NOT_REQUIRED = "jti_not_required"
    ISSUER_NOT_CHECKED = "issuer_not_checked"
    ALGORITHM_NOT_PINNED = "algorithm_not_pinned"
    SUB_NOT_REQUIRED = "sub_not_required"
    IAT_NOT_REQUIRED = "iat_not_required"
    EXP_NOT_REQUIRED = "exp_not_required"
    ISS_NOT_REQUIRED = "iss_not_required"
    AUD_NOT_REQUIRED = "aud_not_required"
    MALFORMED_TOKEN_CRASHES = "malformed_token_crashes"
    QUERY_TOKEN_REFUSED_OUTSIDE_PRODUCTION = "query_token_refused_outside_production"
    SUBPROTOCOL_TOKEN_PREFERRED_OVER_HEADER = "subprotocol_token_preferred_over_header"
    E2E_SKIPS_TOKEN_VERIFICATION_IN_PRODUCTION = "e2e_skips_token_verification_in_production"
    REJECTION_BODY_EMPTY = "rejection_body_empty"
    REJECTION_BODY_WITHOUT_CODE = "rejection_body_without_code"
    AUTHORIZATION_ECHOED_IN_HEADER = "authorization_echoed_in_header"
    # e2e.py
    E2E_HEADERS_IGNORED = "e2e_headers_ignored"
    E2E_SKIPS_TOKEN_VERIFICATION = "e2e_skips_token_verification"
    E2E_IN_PRODUCTION = "e2e_in_production"
    E2E_ENV_FALLBACK_IGNORED = "e2e_env_fallback_ignored"
    E2E_ALWAYS_ON_IN_DEVELOPMENT = "e2e_always_on_in_development"
    E2E_HEADER_CASE_SENSITIVE = "e2e_header_case_sensitive"
    E2E_HEADER_VALUES_NARROWED = "e2e_header_values_narrowed"
    E2E_FALSE_COUNTS = "e2e_false_counts"
    E2E_TEST_ENV_FALLBACK_IGNORED = "e2e_test_env_fallback_ignored"
    E2E_ENV_WINS_OVER_HEADERS = "e2e_env_wins_over_headers"
    # bridge.py
    THINKING_DROPPED = "thinking_dropped"
    FRESH_EXECUTION_ID_ON_COMPLETION = "fresh_execution_id_on_completion"
    STEP_NUMBER_AS_STRING = "step_number_as_string"
    DURATION_MS_MISSING = "duration_ms_missing"
    CLOCK_GOES_BACKWARDS = "clock_goes_backwards"
    RESOLUTION_FAILURE_SWALLOWED = "resolution_failure_swallowed"
    USER_REQUEST_MISSING = "user_request_missing"
    TOOL_PARAMETERS_MISSING = "tool_parameters_missing"
    FINAL_RESPONSE_MISSING = "final_response_missing"
    AGENT_NAME_MISSING = "agent_name_missing"
    COMPLETION_WITHOUT_EXECUTION_ID = "completion_without_execution_id"
    # tools.py
    COMPLETED_BEFORE_TOOL_COMPLETED = "completed_before_tool_completed"
    TOOL_ERROR_REPORTED_AS_SUCCESS = "tool_error_reported_as_success"
    # engine.py
    DUPLICATE_AGENT_STARTED = "duplicate_agent_started"
    GIVEN_RUN_ID_IGNORED = "given_run_id_ignored"
    NO_HEARTBEAT = "no_heartbeat"
    PER_USER_THREAD_COUNTER = "per_user_thread_counter"
    DISCONNECT_CANCELS_ALL_RUNS = "disconnect_cancels_all_runs"
    CRASH_LEAVES_NO_TERMINAL = "crash_leaves_no_terminal"
    SCENARIO_IGNORED = "scenario_ignored"
    PAYLOAD_USER_ID_OVERRIDES_SUB = "payload_user_id_overrides_sub"
    GIVEN_THREAD_ID_IGNORED = "given_thread_id_ignored"
    SCENARIO_WITHOUT_E2E_HONOURED = "scenario_without_e2e_honoured"
    RUN_USER_FROM_THREAD_OWNER = "run_user_from_thread_owner"
    UNKNOWN_AGENT_SILENT = "unknown_agent_silent"
    UNKNOWN_AGENT_REFUSED_WITHOUT_RUN_ID = "unknown_agent_refused_without_run_id"
    UNKNOWN_SCENARIO_CHECKED_BEFORE_E2E = "unknown_scenario_checked_before_e2e"
    UNKNOWN_SCENARIO_RUNS_PLAIN = "unknown_scenario_runs_plain"
    SCENARIO_HOOKS_NOT_LOADED = "scenario_hooks_not_loaded"
    # manager.py
    CONNECTION_REGISTERED_TWICE = "connection_registered_twice"
    BROADCAST_TO_ALL_CONNECTIONS = "broadcast_to_all_connections"
    NEWEST_CONNECTION_ONLY = "newest_connection_only"
    # protocol.py / server.py message loop
    INVALID_JSON_CLOSES_CONNECTION = "invalid_json_closes_connection"
    UNKNOWN_TYPE_IGNORED = "unknown_type_ignored"
    CHAT_RUNS_DEFAULT_AGENT = "chat_runs_default_agent"
    INVALID_MESSAGE_IGNORED = "invalid_message_ignored"
    NO_MESSAGE_SIZE_LIMIT = "no_message_size_limit"
    BINARY_FRAME_CRASHES_HANDLER = "binary_frame_crashes_handler"
    BINARY_FRAME_CLOSES_1003 = "binary_frame_closes_1003"
    NO_PONG = "no_pong"
    WEBSOCKET_PINGS_IGNORED = "websocket_pings_ignored"
    INVALID_UTF8_REPLACED = "invalid_utf8_replaced"
    SHARED_FRAME_QUEUE = "shared_frame_queue"
    HEALTH_UNREADY_DURING_RUNS = "health_unready_during_runs"
    SECRET_IN_HELLO = "secret_in_hello"


@dataclass(frozen=True, slots=True)
class Fault:
    """One catalogued bug: what it breaks (requirement ID → grade), where it lives, and what it does."""

    name: FaultName
    breaks: Mapping[str, Grade]
    room: str
    description: str
    collateral: Mapping[str, str]
    """Other IDs the whole suite fails under this fault (ID → one-line reason); the self-test allows only these."""

    def as_json(self) -> dict[str, object]:
        return {"name": self.name.value, "breaks": dict(self.breaks), "collateral": dict(self.collateral), "description": self.description}

    def as_line(self) -> str:
        """``NAME  ID=GRADE[,ID=GRADE]  description`` (two spaces between the columns)."""
        breaks = ",".join(f"{req_id}={grade}" for req_id, grade in self.breaks.items())
        return f"{self.name.value}  {breaks}  {self.description}"


def _fault(name: FaultName, breaks: dict[str, Grade], room: str, description: str, collateral: dict[str, str] | None = None) -> Fault:
    return Fault(name, MappingProxyType(breaks), room, description, MappingProxyType(collateral or {}))


F = FaultName
CATALOG: Mapping[FaultName, Fault] = MappingProxyType({fault.name: fault for fault in (
    _fault(F.EXPIRED_TOKEN_ACCEPTED, {"AUTH-1": "FAILED"}, "auth.py",
           "exp is not verified: expired tokens open a session"),
    _fault(F.QUERY_TOKEN_IN_PRODUCTION, {"AUTH-1": "FAILED"}, "auth.py",
           "?token= is honoured in production too (tokens leak into URL logs)"),
    _fault(F.BEARER_HEADER_IGNORED, {"AUTH-2": "FAILED"}, "auth.py",
           "the Authorization: Bearer header is never read: header-only clients are refused"),
    _fault(F.SUBPROTOCOL_NOT_ECHOED, {"AUTH-3": "FAILED"}, "server.py",
           "the jwt. subprotocol authenticates but is not selected, so browsers drop the connection"),
    _fault(F.RAW_SUBPROTOCOL_REJECTED, {"AUTH-3": "FAILED"}, "auth.py",
           "only base64url jwt. entries are decoded; a raw jwt.<jwt> entry is refused"),
    _fault(F.HELLO_USER_ID_FROM_EMAIL, {"AUTH-4": "FAILED"}, "server.py",
           "connection_established.user_id is read from the email claim instead of sub"),
    _fault(F.ENV_CLAIM_IGNORED, {"AUTH-5": "FAILED"}, "auth.py",
           "the env claim is not compared with the server's environment"),
    _fault(F.OTHER_ENV_DEFAULT_SECRET_ACCEPTED, {"AUTH-5": "FAILED"}, "auth.py",
           "a bad signature is retried with every environment's default secret (test/staging mismatch hidden)"),
    _fault(F.TOKEN_ECHOED_IN_REJECTION, {"SEC-2": "FAILED"}, "auth.py",
           "the 403 AUTH_FAILED body quotes the presented token"),
    _fault(F.MISSING_TOKEN_ANONYMOUS, {"AUTH-1": "FAILED"}, "auth.py",
           "a request without any token opens an anonymous session instead of being refused"),
    _fault(F.NBF_NOT_VERIFIED, {"AUTH-1": "FAILED"}, "auth.py",
           "nbf is not verified: a token that is not yet valid opens a session"),
    _fault(F.ALG_NONE_ACCEPTED, {"AUTH-1": "FAILED"}, "auth.py",
           "an unsigned alg:none token is decoded without verification (the claims are still checked)"),
    _fault(F.ISSUER_NOT_CHECKED, {"AUTH-1": "FAILED"}, "auth.py",
           "the iss claim is not compared with netra-auth-service: a token from another issuer opens a session"),
    _fault(F.AUDIENCE_NOT_CHECKED, {"AUTH-1": "FAILED"}, "auth.py",
           "the aud claim is not compared with netra-platform: a token for another service opens a session"),
    _fault(F.TOKEN_TYPE_NOT_CHECKED, {"AUTH-1": "FAILED"}, "auth.py",
           "the type claim is not checked: a refresh token opens a session"),
    _fault(F.JTI_NOT_REQUIRED, {"AUTH-1": "FAILED"}, "auth.py",
           "jti is optional: a claim-incomplete token without jti opens a session"),
    _fault(F.ALGORITHM_NOT_PINNED, {"AUTH-1": "FAILED"}, "auth.py",
           "any HMAC algorithm is accepted (HS384, HS512), not only HS256"),
    *(_fault(F(f"{claim}_not_required"), {"AUTH-1": "FAILED"}, "auth.py",
             f"{claim} is optional: a claim-incomplete token without {claim} opens a session{also}")
      for claim, also in (("sub", " (its user is read from the email claim)"), ("iat", ""),
                          ("exp", " that never expires"), ("iss", " (iss is compared only when present)"),
                          ("aud", " (aud is compared only when present)"))),
    _fault(F.MALFORMED_TOKEN_CRASHES, {"AUTH-1": "FAILED"}, "auth.py",
           "a token that does not decode raises out of auth: the handshake gets HTTP 500 instead of 403 AUTH_FAILED"),
    _fault(F.QUERY_TOKEN_REFUSED_OUTSIDE_PRODUCTION, {"AUTH-2": "FAILED"}, "auth.py",
           "?token= is refused in every environment: local tools that put the token in the URL cannot connect"),
    _fault(F.SUBPROTOCOL_TOKEN_PREFERRED_OVER_HEADER, {"AUTH-2": "FAILED"}, "auth.py",
           "the jwt. subprotocol entry is read before the Bearer header: with both, the session is the entry's user"),
    _fault(F.E2E_SKIPS_TOKEN_VERIFICATION_IN_PRODUCTION, {"E2E-2": "FAILED"}, "auth.py",
           "auth reads the E2E headers itself, whatever the environment: with them a token is not verified, "
           "in production too"),
    _fault(F.REJECTION_BODY_EMPTY, {"AUTH-1": "NON-STRICT", "AUTH-5": "NON-STRICT", "E2E-2": "NON-STRICT"},
           "server.py", "a refused handshake is a bare 403 with an empty body (no AUTH_FAILED JSON)"),
    _fault(F.REJECTION_BODY_WITHOUT_CODE, {"AUTH-1": "FAILED", "AUTH-5": "FAILED", "E2E-2": "FAILED"}, "server.py",
           'a refused handshake answers a web framework\'s default 403 body {"detail": "..."}, without AUTH_FAILED'),
    _fault(F.AUTHORIZATION_ECHOED_IN_HEADER, {"SEC-2": "FAILED"}, "server.py",
           "a debugging middleware echoes the Authorization header back in the refusal's X-Echo-Authorization"),
    _fault(F.E2E_HEADERS_IGNORED, {"E2E-1": "FAILED"}, "e2e.py",
           "E2E detection reads only the env fallback: X-Test-* / X-E2E-Test headers are ignored"),
    _fault(F.E2E_SKIPS_TOKEN_VERIFICATION, {"E2E-2": "NON-STRICT"}, "auth.py",
           "on an E2E connection outside production the token is decoded without verification"),
    _fault(F.E2E_IN_PRODUCTION, {"E2E-3": "FAILED"}, "e2e.py",
           "E2E headers and variables are honoured in production (scenario hooks open there)"),
    _fault(F.E2E_ENV_FALLBACK_IGNORED, {"E2E-1": "FAILED"}, "e2e.py",
           "E2E detection reads only the headers: the E2E_TESTING / E2E_TEST_ENV fallback of a local run is ignored"),
    _fault(F.E2E_ALWAYS_ON_IN_DEVELOPMENT, {"E2E-1": "FAILED"}, "e2e.py",
           "in development every connection is E2E (source env), E2E headers or not"),
    _fault(F.E2E_HEADER_CASE_SENSITIVE, {"E2E-1": "FAILED"}, "e2e.py",
           "E2E header names are compared case-sensitively: x-e2e-test (as HTTP/2 proxies send it) is not seen"),
    _fault(F.E2E_HEADER_VALUES_NARROWED, {"E2E-1": "FAILED"}, "e2e.py",
           "an E2E header counts only as 1, true or e2e: yes, on, test, development and staging are ignored"),
    _fault(F.E2E_FALSE_COUNTS, {"E2E-1": "FAILED"}, "e2e.py",
           "an E2E header counts whatever its value: X-Test-Mode: false (or 0, production, empty) turns E2E mode on"),
    _fault(F.E2E_TEST_ENV_FALLBACK_IGNORED, {"E2E-1": "FAILED"}, "e2e.py",
           "only E2E_TESTING is read as the env fallback: a local run with E2E_TEST_ENV set is not E2E"),
    _fault(F.E2E_ENV_WINS_OVER_HEADERS, {"E2E-1": "FAILED"}, "e2e.py",
           "the env fallback is checked before the headers: with both, e2e.source is env instead of headers"),
    _fault(F.THINKING_DROPPED, {"EVT-1": "FAILED"}, "bridge.py",
           "notify_agent_thinking returns before sending: no agent_thinking ever arrives"),
    _fault(F.FRESH_EXECUTION_ID_ON_COMPLETION, {"EVT-3": "FAILED"}, "bridge.py",
           "tool_completed carries a newly generated execution_id instead of the call's"),
    _fault(F.STEP_NUMBER_AS_STRING, {"EVT-4": "FAILED"}, "bridge.py",
           "agent_thinking.step_number is sent as a string"),
    _fault(F.DURATION_MS_MISSING, {"EVT-4": "FAILED"}, "bridge.py",
           "tool_completed omits duration_ms"),
    _fault(F.USER_REQUEST_MISSING, {"EVT-4": "FAILED"}, "bridge.py",
           "agent_started carries an empty data object: user_request is left out"),
    _fault(F.TOOL_PARAMETERS_MISSING, {"EVT-4": "FAILED"}, "bridge.py",
           "tool_executing leaves out the call's parameters"),
    _fault(F.FINAL_RESPONSE_MISSING, {"EVT-4": "FAILED"}, "bridge.py",
           "agent_completed carries status but no final_response"),
    _fault(F.AGENT_NAME_MISSING, {"EVT-4": "FAILED", "EVT-5": "FAILED"}, "bridge.py",
           "the event envelope leaves out agent_name (EVT-4: a required envelope field; EVT-5: not the agent "
           "asked for)"),
    _fault(F.COMPLETION_WITHOUT_EXECUTION_ID, {"EVT-3": "NON-STRICT", "EVT-4": "FAILED"}, "bridge.py",
           "tool_completed leaves out execution_id: calls pair by tool_name only (EVT-3 NON-STRICT), and EVT-4 "
           "requires the field"),
    _fault(F.CLOCK_GOES_BACKWARDS, {"EVT-6": "FAILED"}, "bridge.py",
           "event timestamps subtract the run's elapsed time instead of adding it (they decrease)"),
    _fault(F.RESOLUTION_FAILURE_SWALLOWED, {"FAIL-1": "FAILED", "EVT-2": "FAILED"}, "bridge.py",
           "a thread-resolution failure is logged and the event dropped: the user sees nothing"),
    _fault(F.COMPLETED_BEFORE_TOOL_COMPLETED, {"EVT-2": "FAILED", "EVT-3": "FAILED"}, "tools.py",
           "tool_completed is sent fire-and-forget, so agent_completed overtakes it"),
    _fault(F.TOOL_ERROR_REPORTED_AS_SUCCESS, {"FAIL-2": "FAILED"}, "tools.py",
           "a raising tool is reported as tool_completed success true and the run completes",
           {"FAIL-4": "the tool_error run becomes an ordinary successful run, which FAIL-4 calls a silently ignored hook"}),
    _fault(F.DUPLICATE_AGENT_STARTED, {"EVT-2": "FAILED"}, "engine.py",
           "agent_started is sent twice (a retry of a send that had succeeded)"),
    _fault(F.GIVEN_RUN_ID_IGNORED, {"EVT-5": "FAILED"}, "engine.py",
           "the client's run_id is ignored and a fresh one is generated"),
    _fault(F.GIVEN_THREAD_ID_IGNORED, {"EVT-5": "FAILED"}, "engine.py",
           "the client's thread_id is ignored and every run gets a new thread"),
    _fault(F.SCENARIO_WITHOUT_E2E_HONOURED, {"E2E-3": "FAILED"}, "engine.py",
           "the scenario gate forgets the E2E check: scenarios run on any connection, production included"),
    _fault(F.UNKNOWN_AGENT_SILENT, {"EVT-2": "FAILED"}, "engine.py",
           "a start for an agent the server does not have is logged and dropped: no UNKNOWN_AGENT error, no run"),
    _fault(F.UNKNOWN_AGENT_REFUSED_WITHOUT_RUN_ID, {"EVT-2": "FAILED"}, "engine.py",
           "the UNKNOWN_AGENT refusal forgets the given run_id, so the client cannot tell which start it answers"),
    _fault(F.UNKNOWN_SCENARIO_CHECKED_BEFORE_E2E, {"E2E-3": "FAILED"}, "engine.py",
           "the scenario name is looked up before the E2E gate: an unknown name on a non-E2E connection gets "
           "UNKNOWN_SCENARIO instead of E2E_NOT_ALLOWED"),
    _fault(F.UNKNOWN_SCENARIO_RUNS_PLAIN, {"FAIL-4": "FAILED"}, "engine.py",
           "an unknown scenario name on an E2E connection falls through to an ordinary run (no UNKNOWN_SCENARIO)"),
    _fault(F.SCENARIO_HOOKS_NOT_LOADED, {"FAIL-4": "FAILED", **dict.fromkeys(("FAIL-1", "FAIL-2", "FAIL-3"), "FAILED")},
           "engine.py",
           "features.scenarios says true but the hook table is empty: every scenario is refused with UNKNOWN_SCENARIO"),
    _fault(F.NO_HEARTBEAT, {"EVT-7": "FAILED"}, "engine.py",
           "no heartbeat during a run, so a slow tool means silence"),
    _fault(F.CONNECTION_REGISTERED_TWICE, {"EVT-8": "FAILED"}, "manager.py",
           "each connection is registered twice, so every event is delivered twice",
           {"EVT-2": "every run arrives with two agent_started and two terminal frames (EVT-2: exactly one of each)",
            "EVT-3": "every execution_id arrives twice in a run (EVT-3: unique within a run, one tool_completed per call)",
            "FAIL-1": "the THREAD_RESOLUTION_FAILED error arrives twice (FAIL-1: one error as the run's only frame)"}),
    _fault(F.BROADCAST_TO_ALL_CONNECTIONS, {"ISO-1": "FAILED"}, "manager.py",
           "send_to_user sends to every open connection of every user",
           {"SEC-1": "every run's frames reach users who did not start it (SEC-1: only the user who started it)",
            "FAIL-1": "the THREAD_RESOLUTION_FAILED error reaches a bystander (FAIL-1: the originating user and nobody else)"}),
    _fault(F.NEWEST_CONNECTION_ONLY, {"ISO-2": "FAILED"}, "manager.py",
           "a user maps to one connection, the newest: other tabs stop receiving"),
    _fault(F.PER_USER_THREAD_COUNTER, {"ISO-3": "FAILED"}, "engine.py",
           "server-created thread ids come from a per-user counter (thread_1, thread_2, ...) and collide across users"),
    _fault(F.DISCONNECT_CANCELS_ALL_RUNS, {"ISO-4": "FAILED"}, "engine.py",
           "when a user's last connection closes, every user's runs are cancelled"),
    _fault(F.CRASH_LEAVES_NO_TERMINAL, {"FAIL-3": "FAILED", "EVT-2": "FAILED"}, "engine.py",
           "an agent exception is logged and the run abandoned without a terminal frame"),
    _fault(F.SCENARIO_IGNORED, {"FAIL-4": "FAILED"}, "engine.py",
           "payload.scenario is never read: a scenario request runs as an ordinary successful run",
           {"E2E-3": "a server that never reads payload.scenario never refuses one either: E2E-3's E2E_NOT_ALLOWED never comes",
            **dict.fromkeys(("FAIL-1", "FAIL-2", "FAIL-3"), "each ignored scenario also ends without the failure it must "
                            "surface; on the wire this is tool_error_reported_as_success's run, so its FAIL rule fails too")}),
    _fault(F.PAYLOAD_USER_ID_OVERRIDES_SUB, {"SEC-1": "FAILED"}, "engine.py",
           "a user_id in the start payload replaces the token's sub as the run's user",
           {"ISO-1": "the rerouted run reaches the victim, who did not start it: a delivery PROTOCOL §8 names ISO-1's"}),
    _fault(F.RUN_USER_FROM_THREAD_OWNER, {"SEC-1": "FAILED"}, "engine.py",
           "a run on an existing thread runs as the thread's owner: another user's thread_id sends the run to that "
           "user",
           {"ISO-1": "the thread owner receives a run they did not start: a delivery PROTOCOL §8 names ISO-1's"}),
    _fault(F.INVALID_JSON_CLOSES_CONNECTION, {"ROB-1": "FAILED"}, "protocol.py",
           "a JSON decode error escapes the message loop and the connection closes 1011"),
    _fault(F.UNKNOWN_TYPE_IGNORED, {"ROB-2": "FAILED"}, "protocol.py",
           "frames of an unknown type are dropped silently"),
    _fault(F.CHAT_RUNS_DEFAULT_AGENT, {"EVT-5": "FAILED"}, "protocol.py",
           "user_message / chat run the default agent (researcher) instead of echo"),
    _fault(F.INVALID_MESSAGE_IGNORED, {"ROB-2": "FAILED"}, "protocol.py",
           "JSON that is not an object, or has no string type, is dropped without an INVALID_MESSAGE error"),
    _fault(F.NO_MESSAGE_SIZE_LIMIT, {"ROB-3": "FAILED"}, "server.py",
           "no max message size: a message over 1 MiB is read instead of closing 1009"),
    _fault(F.BINARY_FRAME_CRASHES_HANDLER, {"ROB-4": "FAILED"}, "server.py",
           "the handler assumes text frames: a binary frame crashes it (close 1011)"),
    _fault(F.BINARY_FRAME_CLOSES_1003, {"ROB-4": "NON-STRICT"}, "server.py",
           "a binary frame is answered by close 1003 instead of a BINARY_NOT_SUPPORTED error"),
    _fault(F.NO_PONG, {"ROB-5": "FAILED"}, "server.py",
           "an application ping is treated as a keep-alive and not answered"),
    _fault(F.WEBSOCKET_PINGS_IGNORED, {"ROB-5": "FAILED"}, "server.py",
           "incoming control frames are swallowed: a WebSocket-level ping gets no pong (the JSON ping still does)"),
    _fault(F.INVALID_UTF8_REPLACED, {"ROB-3": "FAILED"}, "server.py",
           "text frames are decoded leniently: invalid UTF-8 becomes U+FFFD and is answered, instead of closing 1007"),
    _fault(F.HEALTH_UNREADY_DURING_RUNS, {"ISO-4": "FAILED"}, "server.py",
           "GET /health is wired to the run queue: it answers 503 while any run is in flight"),
    _fault(F.SECRET_IN_HELLO, {"SEC-2": "FAILED"}, "server.py",
           "connection_established carries a debug block with the auth settings, the signing secret included"),
    _fault(F.SHARED_FRAME_QUEUE, {"ROB-6": "FAILED"}, "server.py",
           "one task handles every connection's frames in arrival order with a 10 ms audit write each: a flood queues everyone",
           {"EVT-7": "the flood case judges the calm user's run under EVT-7 too (Decision 8): the queue holds its start past 2 s"}),
)})


class Faults(Switches[FaultName]):
    """The enabled faults; every room gets this value and asks :meth:`enabled` at its fault's branch."""

    __slots__ = ()
    KIND = FaultName
    UNKNOWN = UnknownFault
    LISTING = "--list-faults"


NO_FAULTS = Faults()
