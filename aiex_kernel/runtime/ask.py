"""What a question turns into before it is sent: context, redaction, the exact request.

Shared by ``aiex ask`` and the notebook (``%aiex ask``, ``%%aiex``, the kernel's
slash commands), so ``--dry-run`` shows exactly what a real call would send.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..core.llm import AiexRequest, Message
from ..core.prompts import with_context
from ..core.redact import redact_request

__all__ = ["AskPlan", "plan_ask"]


@dataclass
class AskPlan:
    choice: object  #: the providers.selection.Choice
    request: AiexRequest  #: exactly what is sent (context included, secrets redacted)
    context: object | None = None  #: the index.context.ContextResult, when context was used
    context_root: str | None = None
    redacted: dict[str, int] = field(default_factory=dict)

    def messages(self) -> list[dict[str, str]]:
        """The request as chat messages, system first: what the provider receives."""
        return self.request.chat_messages()

    def notes(self) -> list[str]:
        out = []
        if self.context is not None:
            c = self.context
            how = c.tokenizer if c.exact else f"{c.tokenizer}, conservative"
            out.extend(c.notes)
            out.append(f"context: {c.tokens:,} tokens ({how}) from {len(c.files)} files of {self.context_root}"
                       + (f"; {len(c.stale)} changed since indexing, shown as signatures" if c.stale else ""))
        if self.redacted:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.redacted.items()))
            out.append(f"redacted before sending: {kinds}")
        return out

    def to_dict(self) -> dict:
        return {
            "model": self.choice.id,
            "messages": self.messages(),
            "max_tokens": self.request.max_tokens,
            "context": None if self.context is None else {
                "root": self.context_root, "tokens": self.context.tokens, "budget": self.context.budget,
                "tokenizer": self.context.tokenizer, "files": self.context.files, "levels": self.context.levels},
            "redacted": self.redacted,
        }


def plan_ask(prompt: str, *, choice, settings, history: Sequence[Message] = (), system: str | None = None,
             context_root: Path | None = None, budget: int | None = None, max_tokens: int = 1024,
             temperature: float | None = None, progress: bool = False, focus: str = "") -> AskPlan:
    """Build the request for ``prompt``: project context (when ``context_root``) and redaction.

    ``focus`` (the notebook's recent code) pulls the context towards the files its names come from.
    """
    context = None
    text = prompt
    if context_root is not None:
        from .index import project_context

        budget = settings.context_budget if budget is None else budget
        if budget > 0:
            context = project_context(context_root, settings, prompt, budget, provider=choice.spec.name,
                                      model=choice.model, progress=progress, focus=focus)
            if context.text:
                text = with_context(prompt, context.text, Path(context_root).name)
    request = AiexRequest(messages=(*history, Message("user", text)), model=choice.model, system=system,
                          max_tokens=max_tokens, temperature=temperature)
    redacted: dict[str, int] = dict(context.redacted) if context is not None else {}
    if settings.redact_secrets:
        request, found = redact_request(request)
        for kind, n in found.items():
            redacted[kind] = redacted.get(kind, 0) + n
    return AskPlan(choice, request, context, str(context_root) if context_root is not None else None, redacted)
