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

__all__ = ["AskPlan", "plan_ask"]


@dataclass
class AskPlan:
    choice: object  #: the providers.selection.Choice
    request: AiexRequest  #: exactly what is sent (context included, secrets redacted)
    context: object | None = None  #: the index.context.ContextResult, when context was used
    context_root: str | None = None
    redacted: dict[str, int] = field(default_factory=dict)
    window: object | None = None  #: the core.windows.Window of the model
    budget_notes: list[str] = field(default_factory=list)

    @property
    def sources(self) -> list[dict]:
        """The code sent as context, most relevant first (empty without context)."""
        return list(self.context.sources) if self.context is not None else []

    def messages(self) -> list[dict[str, str]]:
        """The request as chat messages, system first: what the provider receives."""
        return self.request.chat_messages()

    def notes(self) -> list[str]:
        out = list(self.budget_notes)
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

    def describe(self) -> str:
        """What --dry-run shows people: the exact messages that would be sent, and to which model."""
        lines = [f"Would send to {self.choice.id} (max {self.request.max_tokens} tokens):"]
        for message in self.messages():
            lines += ["", f"── {message['role']} ──", message["content"]]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "model": self.choice.id,
            "messages": self.messages(),
            "max_tokens": self.request.max_tokens,
            "context": None if self.context is None else {
                "root": self.context_root, "tokens": self.context.tokens, "budget": self.context.budget,
                "tokenizer": self.context.tokenizer, "files": self.context.files, "levels": self.context.levels},
            "redacted": self.redacted,
            "window": None if self.window is None else {"tokens": self.window.tokens, "source": self.window.source},
            "sources": self.sources,
        }


def plan_ask(prompt: str, *, choice, settings, history: Sequence[Message] = (), system: str | None = None,
             context_root: Path | None = None, budget: int | None = None, max_tokens: int = 1024,
             temperature: float | None = None, progress: bool = False, focus: str = "",
             pinned: Sequence[str] = (), attachments: str = "", json_schema=None) -> AskPlan:
    """Build the request for ``prompt``: project context (when ``context_root``), redacted as it will leave.

    ``focus`` (the notebook's recent code) pulls the context towards the files its names come from;
    ``pinned`` files (relative to ``context_root``) come first; ``attachments`` (recent cells) go before
    the prompt.
    """
    context = None
    if attachments:
        prompt = f"{attachments}\n\n{prompt}"
    text = prompt
    window, notes = None, []
    if context_root is not None:
        from .index import project_context

        default = settings.local_context_budget if choice.spec.name == "local" else settings.context_budget
        requested = default if budget is None else budget
        budget, window, notes = _fitted_budget(requested, choice, prompt, history, system, max_tokens)
        if budget > 0:
            context = project_context(context_root, settings, prompt, budget, provider=choice.spec.name,
                                      model=choice.model, progress=progress, focus=focus, pinned=pinned)
            if context.text:
                text = with_context(prompt, context.text, Path(context_root).name)
    request = AiexRequest(messages=(*history, Message("user", text)), model=choice.model, system=system,
                          max_tokens=max_tokens, temperature=temperature, json_schema=json_schema)
    redacted: dict[str, int] = dict(context.redacted) if context is not None else {}
    request, found = choice.spec.build().prepared(request)  # as the provider will send it
    for kind, n in found.items():
        redacted[kind] = redacted.get(kind, 0) + n
    return AskPlan(choice, request, context, str(context_root) if context_root is not None else None, redacted,
                   window, notes)


def _fitted_budget(requested: int, choice, prompt: str, history: Sequence[Message], system: str | None,
                   max_tokens: int):
    """(context budget, window, notes): the requested budget, cut to what the model's window leaves free."""
    from ..core.windows import context_budget
    from .aio import run_sync
    from .providers.windows import model_window
    from .tokenizers import conservative_estimate

    if requested <= 0:
        return 0, None, []
    window = run_sync(lambda: model_window(choice.spec, choice.model))
    cap = choice.spec.provider_class().max_answer_tokens
    answer = min(max_tokens, cap) if cap else max_tokens
    said = (system or "") + "".join(m.content for m in history) + prompt
    budget = context_budget(requested, window.tokens, prompt_tokens=conservative_estimate(said), answer_tokens=answer)
    notes = []
    if not window.known:
        notes.append(f"{choice.id}'s context window is unknown; assuming {window.tokens:,} tokens")
    if budget < requested:
        notes.append(f"context budget cut from {requested:,} to {budget:,} tokens to fit {choice.id}'s "
                     f"{window.tokens:,}-token window with the question and a {answer:,}-token answer")
    return budget, window, notes


@dataclass
class ComparePlan:
    """One prompt for several models: one context, built once, and each model's request."""

    choices: list  #: providers.selection.Choice per slot
    requests: list[AiexRequest]  #: per slot, exactly what is sent (redacted)
    context: object | None = None
    context_root: str | None = None
    notes: list[str] = field(default_factory=list)

    def estimates(self) -> list[dict]:
        """Per slot: tokens in (an over-estimate), the answer's cap, and the most it can cost."""
        from ..core.llm import cost_usd
        from .tokenizers import conservative_estimate

        out = []
        for choice, request in zip(self.choices, self.requests):
            tokens_in = conservative_estimate((request.system or "") + "".join(m.content for m in request.messages))
            cap = choice.spec.provider_class().max_answer_tokens
            tokens_out = min(request.max_tokens, cap) if cap else request.max_tokens
            cost = cost_usd(choice.spec.name, choice.model, tokens_in, tokens_out, choice.spec.prices or None)
            out.append({"model": choice.id, "input_tokens": tokens_in, "max_output_tokens": tokens_out,
                        "max_cost_usd": cost})
        return out

    def describe(self) -> str:
        lines = ["Would send one prompt to each model (estimates: tokens in over-counted, answers at their cap):"]
        for e in self.estimates():
            cost = "price unknown" if e["max_cost_usd"] is None else f"at most ${e['max_cost_usd']:.5f}"
            lines.append(f"  {e['model']:<40} {e['input_tokens']:>7,} tokens in, up to {e['max_output_tokens']:,} out, "
                         f"{cost}")
        lines += ["", "── user ──", self.requests[0].messages[-1].content]
        return "\n".join(lines)


def plan_compare(prompt: str, *, choices: list, settings, system: str | None, context_root: Path | None,
                 budget: int | None, max_tokens: int, temperature: float | None, focus: str = "",
                 pinned: Sequence[str] = (), attachments: str = "", progress: bool = False) -> ComparePlan:
    """The requests of a comparison: the context is built once, within the smallest budget any model's window
    leaves, counted with the conservative estimate (an over-count for every model's tokenizer)."""
    if attachments:
        prompt = f"{attachments}\n\n{prompt}"
    context, notes, text = None, [], prompt
    if context_root is not None:
        from .index import project_context

        budgets = []
        for choice in choices:
            default = settings.local_context_budget if choice.spec.name == "local" else settings.context_budget
            fitted, _, said = _fitted_budget(default if budget is None else budget, choice, prompt, (), system,
                                             max_tokens)
            budgets.append(fitted)
            notes.extend(said)
        shared = min(budgets)
        if shared > 0:
            context = project_context(context_root, settings, prompt, shared, provider=None, model=None,
                                      progress=progress, focus=focus, pinned=pinned)
            if context.text:
                text = with_context(prompt, context.text, Path(context_root).name)
    requests = []
    for choice in choices:
        request = AiexRequest(messages=(Message("user", text),), model=choice.model, system=system,
                              max_tokens=max_tokens, temperature=temperature)
        requests.append(choice.spec.build().prepared(request)[0])
    return ComparePlan(choices, requests, context, str(context_root) if context_root is not None else None, notes)
