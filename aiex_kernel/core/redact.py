"""Redact secrets from text before it leaves the machine.

Found and replaced with ``[REDACTED:<kind>]``: private key blocks, API keys and
tokens with a recognisable shape (OpenAI, Anthropic, AWS, GitHub, Slack, Google,
Stripe, JWTs, bearer tokens), passwords in URLs, and quoted values assigned to
secret-sounding names (``password = "…"``, ``"api_key": "…"``) or ``.env``-style
lines (``DB_PASSWORD=…``). Code that merely *mentions* a secret
(``token = self.next_token()``) is left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Redaction", "redact", "redact_request"]

_SECRET_NAME = r"[A-Za-z0-9_.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|auth)[A-Za-z0-9_.-]*"
_PLACEHOLDERS = frozenset({"none", "null", "true", "false", "changeme", "password", "secret", "xxx", "xxxx",
                           "***", "****", "example", "your-key", "todo", "test"})

_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("private-key", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----",
        re.DOTALL)),
    ("anthropic-key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("openai-key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    ("aws-access-key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})\b")),
    ("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("stripe-key", re.compile(r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")),
    ("bearer-token", re.compile(r"(?i)(?<=\bbearer )[A-Za-z0-9._~+/-]{20,}=*")),
    ("url-password", re.compile(r"(?<=://)([^/\s:@]+):(?!\[REDACTED)([^/\s@]{3,})(?=@)")),
]
# name = "value" / name: 'value' / "name": "value"
_QUOTED_ASSIGNMENT = re.compile(
    rf"(?i)(?P<name>[\"']?{_SECRET_NAME}[\"']?\s*(?::|=|:=|=>)\s*)(?P<q>[\"'])(?P<value>[^\"'\s]{{4,}})(?P=q)")
# .env style: DB_PASSWORD=value at the start of a line
_ENV_LINE = re.compile(
    r"(?m)^(?P<name>\s*(?:export\s+)?[A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|AUTH)[A-Z0-9_]*=)(?P<value>[^\s\"'#]{4,})")


# every pattern above needs one of these in the text: one search rules out most texts
_HINT = re.compile(r"(?i)PRIVATE KEY|sk-|AKIA|ASIA|gh[pousr]_|github_pat_|xox|AIza|k_(?:live|test)_|eyJ|bearer|://"
                   r"|passw|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|auth")


@dataclass(frozen=True)
class Redaction:
    text: str
    found: dict[str, int]  #: kind -> how many were redacted

    @property
    def count(self) -> int:
        return sum(self.found.values())


def _placeholder(value: str) -> bool:
    return value.lower() in _PLACEHOLDERS or value[0] in "$<{%" or len(set(value)) <= 2


def redact(text: str) -> Redaction:
    """``text`` with every secret it recognises replaced, and what was found."""
    found: dict[str, int] = {}
    if not _HINT.search(text):
        return Redaction(text, found)

    def count(kind: str) -> None:
        found[kind] = found.get(kind, 0) + 1

    for kind, pattern in _PATTERNS:
        def sub(m: re.Match, kind=kind) -> str:
            count(kind)
            if kind == "url-password":
                return f"{m.group(1)}:[REDACTED:{kind}]"
            return f"[REDACTED:{kind}]"

        text = pattern.sub(sub, text)

    def assignment(m: re.Match) -> str:
        value = m.group("value")
        if _placeholder(value) or value.startswith("[REDACTED"):
            return m.group(0)
        count("assigned-secret")
        q = m.groupdict().get("q") or ""
        return f"{m.group('name')}{q}[REDACTED:assigned-secret]{q}"

    text = _QUOTED_ASSIGNMENT.sub(assignment, text)
    text = _ENV_LINE.sub(assignment, text)
    return Redaction(text, found)


def redact_request(request):
    """``request`` (an :class:`~aiex_kernel.core.llm.AiexRequest`) with its system prompt and
    messages redacted, and what was found in all of them."""
    from dataclasses import replace

    from .llm import Message

    found: dict[str, int] = {}

    def clean(text: str | None) -> str | None:
        if not text:
            return text
        r = redact(text)
        for kind, n in r.found.items():
            found[kind] = found.get(kind, 0) + n
        return r.text

    messages = tuple(Message(m.role, clean(m.content)) for m in request.messages)
    return replace(request, system=clean(request.system), messages=messages), found
