"""Structured output: read a JSON answer, check it against a schema, ask again if it fails.

Providers with a JSON-schema mode (OpenAI, LM Studio, Ollama, the embedded model)
are asked to follow the schema natively; the others get the schema in the system
prompt. Either way the answer is parsed and validated here, and a failed answer
is sent back with what was wrong (parse-validate-retry).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .llm import AiexRequest, Message

__all__ = ["StructuredError", "check_schema", "parse_structured", "retry_request", "schema_instruction"]

# A whole answer wrapped in one fenced block: ```json ... ```
_FENCED = re.compile(r"^\s*(`{3,}|~{3,})[^\n]*\n(?P<body>.*?)\n?\1\s*$", re.DOTALL)


class StructuredError(ValueError):
    """The answer is not JSON, or does not match the schema; the message says where."""


def _json_text(text: str) -> str:
    m = _FENCED.match(text)
    if m:
        return m.group("body")
    stripped = text.strip()
    if stripped[:1] in "{[":
        return stripped
    # prose around one JSON object: take from the first brace to the last
    start, end = stripped.find("{"), stripped.rfind("}")
    return stripped[start:end + 1] if 0 <= start < end else stripped


def check_schema(schema: Mapping[str, Any]) -> None:
    """``ValueError`` naming the problem if ``schema`` is not a valid JSON schema."""
    import jsonschema

    if not isinstance(schema, Mapping):
        raise ValueError(f"a JSON schema must be an object, not {type(schema).__name__}")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"the JSON schema itself is invalid: {exc.message}") from None


def parse_structured(text: str, schema: Mapping[str, Any]) -> Any:
    """The answer's JSON value, validated against ``schema``; :class:`StructuredError` if not."""
    import jsonschema

    try:
        value = json.loads(_json_text(text))
    except json.JSONDecodeError as exc:
        raise StructuredError(f"the answer is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    validator_cls = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_cls(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        problems = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:5])
        raise StructuredError(f"the JSON does not match the schema: {problems}")
    return value


def schema_instruction(schema: Mapping[str, Any]) -> str:
    """System-prompt text for providers without a native schema mode."""
    return ("Reply with one JSON document and nothing else (no prose, no code fence). "
            "It must validate against this JSON schema:\n" + json.dumps(schema, indent=1))


def retry_request(original: AiexRequest, answer: str, problem: str) -> AiexRequest:
    """``original`` with the failed answer and what was wrong appended, to ask again."""
    from dataclasses import replace

    fix = Message("user", f"That reply cannot be used: {problem}. Reply again with only the corrected JSON.")
    return replace(original, messages=(*original.messages, Message("assistant", answer), fix))
