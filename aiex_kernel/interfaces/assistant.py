"""The notebook assistant: one per IPython shell, behind the magics and the kernel's slash commands.

It keeps the conversation memory, the executed cells and their errors (``Err``),
the last answer, the session's aliases and a long-lived event loop on which the
providers (and their connection pools) live between cells.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from ..core.conversation import Conversation
from ..core.prompts import FORMATS, CellRecord, cells_context, explain_prompt, fix_prompt, interpolate, system_prompt
from ..errors import UsageError
from .display import AiexResult, StreamView
from .introspect import bounded_repr, error_text, object_facts

if TYPE_CHECKING:  # pragma: no cover
    from .magics import AiexMagics

__all__ = ["Assistant"]

#: the longest text a ``{name}`` placeholder puts into a prompt
MAX_INTERPOLATED_CHARS = 4000
_INDEXED = ("In", "Out", "Err")
#: recent cells whose code steers the project context towards the files it uses
FOCUS_CELLS = 10


class Assistant:
    def __init__(self, shell, magics: AiexMagics) -> None:
        from ..runtime.aio import LoopThread

        self.shell = shell
        self.magics = magics
        self.conversation = Conversation(magics.max_history)
        self.errors = magics.errors  # recorded from the moment the extension loaded
        self.last: AiexResult | None = None
        self.loop = LoopThread("aiex-notebook")
        self._providers: dict = {}
        self._default: tuple[tuple, Any] | None = None
        self._context_note_shown = False

    def close(self) -> None:
        self.loop.close()

    # -- session state --------------------------------------------------------------------------

    def settings(self):
        from ..config import find_project_root, load_settings

        configured = self.magics.default_model or None
        return load_settings(find_project_root(), default_model=configured)

    def aliases(self, settings) -> dict[str, str]:
        return {**settings.aliases, **self.magics.aliases}

    # -- asking ---------------------------------------------------------------------------------

    def choose(self, model: str | None, settings):
        """The model to use; the default is picked once per session (and said) unless its inputs change."""
        from ..runtime.providers.selection import choose_model

        settings = settings.model_copy(update={"aliases": self.aliases(settings)})
        if model:
            return self.loop.run(choose_model(model, settings))
        key = (settings.default_model, tuple(sorted(settings.aliases.items())),
               *(bool(os.environ.get(v)) for v in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")),
               os.environ.get("OLLAMA_HOST"), os.environ.get("LMSTUDIO_BASE_URL"))
        if self._default is None or self._default[0] != key:
            choice = self.loop.run(choose_model(None, settings))
            self._default = (key, choice)
            print(f"aiex: using {choice.id} ({choice.reason})")
        return self._default[1]

    def provider(self, spec):
        key = spec.cache_key()
        if key not in self._providers:
            self._providers[key] = spec.build()
        return self._providers[key]

    def ask(self, prompt: str, *, model: str | None = None, fmt: str = "markdown", stream: bool = True,
            cells: int = 0, memory: bool = True, interpolate_names: bool = True,
            max_tokens: int | None = None, context: str | None = None, use_context: bool = True,
            context_budget: int | None = None, dry_run: bool = False):
        """Ask the model; stream the answer into the output; return it as an :class:`AiexResult`."""
        if fmt not in FORMATS:
            raise UsageError(f"-f/--format must be one of {', '.join(FORMATS)}, not {fmt!r}.")
        if cells < 0:
            raise UsageError("--cells must be 0 or more.")
        if interpolate_names:
            prompt = interpolate(prompt, self._lookup)
        prompt = prompt.strip()
        if not prompt:
            raise UsageError("The prompt is empty: write it after the magic line, e.g.\n%%aiex\nWhat is a closure?")
        settings = self.settings()
        choice = self.choose(model, settings)
        self.conversation.max_history = self.magics.max_history
        history = self.conversation.messages() if memory else ()
        text = prompt
        if cells:
            recent, _ = cells_context(self.recent_cells(cells), self.magics.cells_budget)
            if recent:
                text = f"{recent}\n\n{prompt}"
        from ..runtime.ask import plan_ask
        from .verbs.options import resolve_context_root

        root, note = resolve_context_root(context, use_context, context_budget)
        if note and not self._context_note_shown:
            print(f"aiex: {note}")
            self._context_note_shown = True
        focus = "\n".join(c.source for c in self.recent_cells(FOCUS_CELLS)) if root is not None else ""
        plan = plan_ask(text, choice=choice, settings=settings, history=history, system=system_prompt(fmt),
                        context_root=root, budget=context_budget, max_tokens=max_tokens or self.magics.max_tokens,
                        progress=True, focus=focus)
        for line in plan.notes():
            print(f"aiex: {line}")
        if dry_run:
            from .display import DryRun
            from .verbs.models import dry_run_result

            return DryRun(plan.to_dict(), dry_run_result(plan).human)
        request = plan.request
        provider = self.provider(choice.spec)
        if stream:
            view = StreamView(self.shell, fmt)
            final = None
            try:
                for item in self.loop.iterate(provider.stream(request)):
                    if isinstance(item, str):
                        view(item)
                    else:
                        final = item
            finally:
                view.close()
        else:
            final = self.loop.run(provider.complete(request))
        result = AiexResult.of(final, fmt, choice.id, plan.sources)
        if memory:  # standalone questions (ask, explain, fix) neither use nor extend the conversation
            self.conversation.add(prompt, result.text)
        self.last = result
        self.shell.user_ns["_aiex"] = result
        if fmt == "code":
            if result.code_blocks:
                self.insert(result)
            else:
                print("aiex: the answer has no code block; nothing was put into a new cell.")
        return result

    def explain(self, expression: str, **options) -> AiexResult:
        expression = expression.strip()
        if not expression:
            raise UsageError("Name an object to explain: `%aiex explain my_function`.")
        try:
            value = self.shell.ev(expression)
        except Exception as exc:  # noqa: BLE001 - whatever the expression raises
            raise UsageError(f"Cannot evaluate {expression!r} in the session: {type(exc).__name__}: {exc}") from None
        facts = object_facts(expression, value)
        if facts.source is None:
            from dataclasses import replace

            facts = replace(facts, source=self._source_in_cells(value))
        options.setdefault("memory", False)
        return self.ask(explain_prompt(facts), interpolate_names=False, **options)

    def _source_in_cells(self, value) -> str | None:
        """The definition of a class (or of an instance's class) typed in this session's cells, newest first:
        ``inspect`` cannot find classes defined in a notebook before Python 3.13."""
        import ast
        import inspect

        cls = value if inspect.isclass(value) else type(value)
        if getattr(cls, "__module__", None) != "__main__":
            return None
        for cell in reversed(self._inputs()):
            if f"class {cls.__name__}" not in cell:
                continue
            try:
                tree = ast.parse(cell)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
                    return ast.get_source_segment(cell, node, padded=True)
        return None

    def fix(self, **options) -> AiexResult:
        from IPython.core.error import UsageError as IPythonUsageError

        from ..errors import AiexError

        last = self.errors.last
        if last is None:
            exc = getattr(sys, "last_value", None)
            if exc is None or isinstance(exc, (IPythonUsageError, AiexError)):
                raise UsageError("No exception to fix yet: run the failing cell first, then `%aiex fix`.")
            last = (None, exc)
        number, exc = last
        source = self._cell(number) if number is not None else None
        options.setdefault("memory", False)
        return self.ask(fix_prompt(error_text(exc), source), interpolate_names=False, **options)

    def insert(self, result: AiexResult | None = None) -> None:
        result = result or self.last
        if result is None:
            raise UsageError("No answer yet: ask something first, then `%aiex insert`.")
        if not result.code_blocks:
            raise UsageError("The last answer has no code block to insert.")
        self.shell.set_next_input(result.code, replace=False)

    # -- the notebook's history -----------------------------------------------------------------

    def _inputs(self) -> list[str]:
        """The cells as the user typed them (``In`` holds IPython's rewritten code, and may be rebound)."""
        return self.shell.history_manager.input_hist_raw

    def _cell(self, number: int) -> str | None:
        inputs = self._inputs()
        return inputs[number] if 0 < number < len(inputs) else None

    def recent_cells(self, n: int) -> list[CellRecord]:
        """The last ``n`` executed cells before the current one, oldest first."""
        inputs = self._inputs()
        outputs = self.shell.history_manager.output_hist
        # the running cell is In[-1] (IPython 8 counts it in execution_count, IPython 9 has moved on)
        current = min(len(inputs) - 1, self.shell.execution_count)
        numbers = [k for k in range(current - 1, 0, -1) if inputs[k].strip()][:n]
        return [CellRecord(k, inputs[k], bounded_repr(outputs[k]) if k in outputs else None, self.errors.get(k))
                for k in reversed(numbers)]

    def _lookup(self, name: str, index: int | None) -> Any:
        ns = self.shell.user_ns
        if name in _INDEXED:
            if index is None:
                raise KeyError(name)
            source = {"In": self._inputs(), "Out": self.shell.history_manager.output_hist, "Err": self.errors}[name]
            value = source[index]
            return bounded_repr(value, MAX_INTERPOLATED_CHARS) if name == "Out" else value
        value = ns[name] if index is None else ns[name][index]
        if isinstance(value, str):
            text = value
        else:
            try:
                text = str(value)
            except Exception:  # noqa: BLE001 - a broken __str__ must not break the prompt
                text = bounded_repr(value, MAX_INTERPOLATED_CHARS)
        return text if len(text) <= MAX_INTERPOLATED_CHARS else text[:MAX_INTERPOLATED_CHARS] + "…"
