"""What aiex asks of a model and what it gets back, as plain data.

:class:`AiexRequest` and :class:`AiexResponse` are shared by every provider
(``runtime/providers``); :func:`code_blocks` pulls fenced code out of an answer;
:func:`cost_usd` prices a response from a per-model table the user can override.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["AiexRequest", "AiexResponse", "CodeBlock", "Message", "PRICES", "code_blocks", "cost_usd"]


@dataclass(frozen=True)
class Message:
    role: str  #: "user" or "assistant" (the system prompt is ``AiexRequest.system``)
    content: str


@dataclass(frozen=True)
class AiexRequest:
    """One model call: the conversation, and how to answer it."""

    messages: tuple[Message, ...]
    model: str = ""
    system: str | None = None
    max_tokens: int = 1024
    temperature: float | None = None
    stop: tuple[str, ...] = ()
    #: a JSON schema the answer must validate against (structured output)
    json_schema: Mapping[str, Any] | None = None
    #: secrets were already redacted from it (``Provider.prepare``): not redacted twice
    redacted: bool = False

    def chat_messages(self, *, with_system: bool = True) -> list[dict[str, str]]:
        """The conversation as chat-API dicts, the system prompt first (OpenAI, Ollama, llama.cpp)."""
        head = [{"role": "system", "content": self.system}] if with_system and self.system else []
        return head + [{"role": m.role, "content": m.content} for m in self.messages]

    @classmethod
    def ask(cls, prompt: str, **kwargs: Any) -> AiexRequest:
        """A one-message request: ``AiexRequest.ask("what is this?", model="gpt-4o")``."""
        return cls(messages=(Message("user", prompt),), **kwargs)


@dataclass(frozen=True)
class CodeBlock:
    language: str
    code: str


@dataclass
class AiexResponse:
    """A model's answer with its usage and cost."""

    text: str
    model: str
    provider: str
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_s: float | None = None  #: request sent to last byte received
    ttft_s: float | None = None  #: request sent to first token (streaming)
    cost_usd: float | None = None
    code_blocks: list[CodeBlock] = field(default_factory=list)
    #: the validated JSON value of a structured answer (requests with ``json_schema``)
    data: Any = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return self.text


# A fenced block: ``` or ~~~ (3+), optional info string, body, the same fence closing.
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$",
                    re.MULTILINE | re.DOTALL)


def code_blocks(text: str) -> list[CodeBlock]:
    """The fenced code blocks of a markdown answer, in order (unclosed fences are ignored)."""
    out = []
    for m in _FENCE.finditer(text):
        info = m.group("info").strip()
        out.append(CodeBlock(language=info.split()[0].lower() if info else "", code=m.group("body")))
    return out


#: USD per million tokens (input, output). Local and self-hosted models cost nothing.
#: Override or extend with ``[prices]`` in config.toml: ``"gpt-4o" = [2.5, 10.0]``.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o3": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
    "claude-3-5-haiku-latest": (0.80, 4.00),
    "claude-3-7-sonnet-latest": (3.00, 15.00),
    "claude-sonnet-4-0": (3.00, 15.00),
    "claude-opus-4-0": (15.00, 75.00),
}

#: Providers whose models run on the user's own hardware.
FREE_PROVIDERS = frozenset({"ollama", "lmstudio", "local"})


def cost_usd(provider: str, model: str, input_tokens: int | None, output_tokens: int | None,
             prices: Mapping[str, tuple[float, float]] | None = None) -> float | None:
    """The price of a call, or ``None`` when the model's price or the usage is unknown.

    A model id matches its own entry, else the longest entry it starts with
    (``gpt-4o-2024-08-06`` is priced as ``gpt-4o``).
    """
    if provider in FREE_PROVIDERS:
        return 0.0
    if input_tokens is None or output_tokens is None:
        return None
    table = {**PRICES, **(prices or {})}
    entry = table.get(model)
    if entry is None:
        prefixes = [name for name in table if model.startswith(name)]
        if not prefixes:
            return None
        entry = table[max(prefixes, key=len)]
    per_in, per_out = entry
    return round((input_tokens * per_in + output_tokens * per_out) / 1_000_000, 8)
