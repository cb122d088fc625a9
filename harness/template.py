"""The start message as a JSON template with placeholders: how the harness asks any target to start a run.

Pure (no sockets): the configuration validates a template when it is resolved, the client renders it per run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from harness.errors import ConfigError

__all__ = ["DEFAULT_START_TEMPLATE", "PLACEHOLDERS", "StartTemplate"]

DEFAULT_START_TEMPLATE = (
    '{"type":"start_agent","payload":{"agent_name":"{agent}","user_request":"{request}",'
    '"thread_id":"{thread_id}","run_id":"{run_id}","scenario":"{scenario}"}}'
)

PLACEHOLDERS: Final = ("agent", "request", "thread_id", "run_id", "scenario", "user_id")
_FIELD = re.compile(r"\{([^{}\s\"]*)\}")
_DROP = object()


class StartTemplate:
    """The start message as a JSON template (``--wsagent-start-template``), so targets with other shapes can run.

    Placeholders: ``{agent}`` ``{request}`` ``{thread_id}`` ``{run_id}`` ``{scenario}`` ``{user_id}`` (the user the
    message acts for: the token's ``sub``, or the user a SEC-1 case claims). A string value that is exactly a
    placeholder becomes the value, and its key is dropped when the value is ``None``; placeholders inside longer
    strings are substituted as text (``None`` as empty). An unknown placeholder is a config error naming it. What the
    template does not carry the harness does not claim to have given: no ``{run_id}`` means the target names runs.
    """

    def __init__(self, text: str = DEFAULT_START_TEMPLATE) -> None:
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"wsagent: the start template is not JSON ({exc.args[0]})") from None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("type"), str):
            raise ConfigError("wsagent: the start template must be a JSON object with a string type")
        self.template: dict[str, Any] = parsed
        self.fields: frozenset[str] = frozenset(_fields(parsed))
        unknown = sorted(self.fields - set(PLACEHOLDERS))
        if unknown:
            known = " ".join(f"{{{name}}}" for name in PLACEHOLDERS)
            raise ConfigError(
                f"wsagent: the start template has an unknown placeholder {{{unknown[0]}}}; it knows {known}"
            )

    def carries(self, name: str) -> bool:
        return name in self.fields

    def start(
        self,
        agent: str,
        request: str,
        user: str | None,
        *,
        thread_id: str | None,
        run_id: str | None,
        scenario: str | None = None,
        uses_tools: bool | None = None,
        claims_user: str | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The start message for one run, and its spec (what the harness asked for: the SENT record's ``start`` note).

        Ids the template does not carry are not given (the spec says ``None``: the target names them), nor is an agent
        it does not name. ``claims_user`` acts for another user (SEC-1: a payload ``user_id`` must never override the
        token's ``sub``): it fills ``{user_id}``, or is put into the payload when the template has no such placeholder.
        """
        thread_id = thread_id if self.carries("thread_id") else None
        run_id = run_id if self.carries("run_id") else None
        acting = claims_user if claims_user is not None else user
        message = self.render(
            {
                "agent": agent,
                "request": request,
                "thread_id": thread_id,
                "run_id": run_id,
                "scenario": scenario,
                "user_id": acting,
            }
        )
        spec: dict[str, Any] = {
            "agent": agent if self.carries("agent") else None,
            "request": request,
            "run_id": run_id,
            "thread_id": thread_id,
            "scenario": scenario,
            "uses_tools": uses_tools,
        }
        if claims_user is not None:
            if not self.carries("user_id"):
                payload = message.get("payload")
                (payload if isinstance(payload, dict) else message)["user_id"] = claims_user
            spec["claims_user"] = claims_user
        return message, spec

    def render(self, values: Mapping[str, str | None]) -> dict[str, Any]:
        result = self._fill(self.template, values)
        assert isinstance(result, dict)
        return result

    def _fill(self, node: Any, values: Mapping[str, str | None]) -> Any:
        if isinstance(node, str):
            exact = _FIELD.fullmatch(node)
            if exact:
                value = values[exact[1]]
                return _DROP if value is None else value
            return _FIELD.sub(lambda m: values[m[1]] or "", node)
        if isinstance(node, dict):
            return {k: v for k, v in ((k, self._fill(v, values)) for k, v in node.items()) if v is not _DROP}
        if isinstance(node, list):
            return [v for v in (self._fill(item, values) for item in node) if v is not _DROP]
        return node


def _fields(node: Any) -> list[str]:
    """The placeholder names in the string values of a parsed template."""
    if isinstance(node, str):
        return _FIELD.findall(node)
    if isinstance(node, dict):
        return [name for value in node.values() for name in _fields(value)]
    if isinstance(node, list):
        return [name for item in node for name in _fields(item)]
    return []
