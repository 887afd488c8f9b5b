"""The notebook surface: one per IPython shell, behind ``%aiex``, ``%%aiex`` and the slash cells.

It turns what only a notebook has into request inputs (``{name}`` placeholders, the
recent cells, live objects for ``explain``, the last exception for ``fix``) and
renders a turn's events into the cell: the answer streams into a display that
stays where it is (also when the magic is not the cell's last statement), an
interrupt keeps the partial answer with one line saying it was stopped. The
conversation, the session and everything else belong to the assistant service.
"""

from __future__ import annotations

import sys
from typing import Any

from ...core.prompts import CellRecord, cells_context
from ...errors import Interrupted, UsageError
from ..commands import Context, Result
from .display import AiexResult, DryRun, StreamView
from ..introspect import bounded_repr, error_text, object_facts

__all__ = ["NotebookSurface"]

#: the longest text a ``{name}`` placeholder puts into a prompt
MAX_INTERPOLATED_CHARS = 4000
_INDEXED = ("In", "Out", "Err")
#: recent cells whose code steers the project context towards the files it uses
FOCUS_CELLS = 10
#: the output the aiex JupyterLab extension turns into a new cell (extension/jupyterlab/src/index.ts)
INSERT_MIME = "application/vnd.aiex.insert+json"
#: the output it copies to the clipboard
COPY_MIME = "application/vnd.aiex.copy+json"


class NotebookSurface:
    def __init__(self, shell, magics) -> None:
        from ...runtime.service import AssistantService

        self.shell = shell
        self.magics = magics
        self.errors = magics.errors  # recorded from the moment the extension loaded
        self.last: AiexResult | None = None
        self.in_kernel = getattr(shell, "kernel", None) is not None
        self.service = AssistantService(self.settings, origin="kernel" if self.in_kernel else "ipython")
        self._shown: list[tuple[AiexResult, Any]] = []  #: this cell's answers and their displays
        self._follower = None
        self.chats: list = []  #: the chat widgets opened (interfaces.notebook.chat.ChatRun)

    def close(self) -> None:
        if self._follower is not None:
            self._follower.stop()
        for chat in self.chats:
            chat.close()
        self.service.close()

    # -- settings: config.toml and AIEX_*, under the magics' traitlets ----------------------------

    def settings(self):
        from ...config import find_project_root, load_settings

        m = self.magics
        settings = load_settings(find_project_root(), default_model=m.default_model or None)
        update: dict[str, Any] = {"aliases": {**settings.aliases, **m.aliases}}
        if m.max_history is not None:
            update["max_history"] = m.max_history
        if m.cells_budget is not None:
            update["cells_budget"] = m.cells_budget
        return settings.model_copy(update=update)

    # -- the command context ----------------------------------------------------------------------

    def context(self) -> Context:
        def write(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()

        return Context(surface="notebook", progress=True, prog="%aiex", write=write, note=self.note,
                       service=self.service, run_turn=self.run_turn, run_compare=self.run_compare,
                       run_edit=self.run_edit, notebook=self)

    @staticmethod
    def note(text: str) -> None:
        print(f"aiex: {text}")

    # -- inputs only a notebook has ---------------------------------------------------------------

    def prompt_inputs(self, prompt: str, *, interpolate: bool = True, cells: int = 0) -> tuple[str, str]:
        """The prompt with ``{name}`` filled in, and the recent cells to send before it."""
        from ...core.prompts import interpolate as fill

        if interpolate:
            prompt = fill(prompt, self._lookup)
        attachments = ""
        if cells:
            attachments, _ = cells_context(self.recent_cells(cells), self.settings().cells_budget)
        return prompt.strip(), attachments

    def focus(self) -> str:
        """The code of the recent cells: its names steer the project context."""
        return "\n".join(c.source for c in self.recent_cells(FOCUS_CELLS))

    def live_facts(self, expression: str):
        """What the session knows about ``expression`` (None when it is not a live object: the index is asked)."""
        try:
            value = self.shell.ev(expression)
        except Exception as exc:  # noqa: BLE001 - not a live object: a name in the project, perhaps
            from ...config import ROOT_MARKERS, find_project_root

            if any((find_project_root() / m).exists() for m in ROOT_MARKERS):
                return None
            raise UsageError(f"Cannot evaluate {expression!r} in the session ({type(exc).__name__}: {exc}), and "
                             "outside a project there is no index to look it up in.") from None
        facts = object_facts(expression, value)
        if facts.source is None:
            from dataclasses import replace

            facts = replace(facts, source=self._source_in_cells(value))
        return facts

    def last_error(self) -> tuple[str, str | None]:
        from IPython.core.error import UsageError as IPythonUsageError

        from ...errors import AiexError

        last = self.errors.last
        if last is None:
            exc = getattr(sys, "last_value", None)
            if exc is None or isinstance(exc, (IPythonUsageError, AiexError)):
                raise UsageError("No exception to fix yet: run the failing cell first, then `%aiex fix`.")
            last = (None, exc)
        number, exc = last
        return error_text(exc), (self._cell(number) if number is not None else None)

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

    # -- rendering a turn -------------------------------------------------------------------------

    def run_turn(self, request, args) -> Result:
        """Stream the answer into a display that stays; return it as the cell's value."""
        from ...runtime.service import raise_failed
        from ..turns import Outcome, follow

        output = getattr(args, "output_var", None)
        if output is not None and not output.isidentifier():
            raise UsageError(f"-o needs a variable name, not {output!r}.")
        if output in ("In", "Out", "Err", "get_ipython", "exit", "quit"):
            raise UsageError(f"-o {output} would replace the session's own {output}; pick another name.")
        view = StreamView(self.shell, request.format, stream=args.stream and args.output == "text")
        outcome = Outcome()
        try:
            follow(self.service.turn_sync(request), on_delta=view, on_note=self.note, outcome=outcome)
        except KeyboardInterrupt:
            view.stopped()
            raise Interrupted("stopped; the partial answer above is kept") from None
        if outcome.planned is not None:
            view.clear()
            return Result(outcome.planned.plan, human=outcome.planned.text,
                          value=DryRun(outcome.planned.plan, outcome.planned.text))
        if outcome.failed is not None:
            view.clear()
            raise_failed(outcome.failed)
        result = AiexResult.of_outcome(outcome, request.format)
        for problem in result.problems():
            self.note(problem)
        self.last = result
        self.shell.user_ns["_aiex"] = result
        if output:
            self.shell.user_ns[output] = result
        handle = view.finish(result)
        if handle is not None:
            self._shown.append((result, handle))
        self.follow()
        if request.format == "code":
            if result.code_blocks:
                self.insert(result)
            else:
                self.note("the answer has no code block; nothing was put into a new cell.")
        return Result(outcome.to_dict(), human=result.text, value=result, shown=True)

    def run_compare(self, request, args) -> Result:
        """A comparison: a widget whose columns fill as the models answer. Without ``--select`` it streams in
        the background (the cell returns at once, the Stop button works); with it the cell waits and its value
        is the selected answer."""
        from ..turns import CompareOutcome, follow_compare
        from .compare import CompareRun

        output = getattr(args, "output_var", None)
        if output is not None and not output.isidentifier():
            raise UsageError(f"-o needs a variable name, not {output!r}.")
        outcome = CompareOutcome()
        if request.dry_run:
            follow_compare(self.service.compare_sync(request), on_note=self.note, outcome=outcome)
            plan = outcome.planned
            return Result(plan.plan, human=plan.text, value=DryRun(plan.plan, plan.text))
        run = CompareRun(self, request, None, outcome, output)
        if not self.in_kernel:
            return run.in_terminal(args)
        if request.select is None:
            run.start_background()
            return Result({"compare": None}, human="", shown=True)
        return run.blocking()

    def run_edit(self, request, args, edit_id: str | None = None) -> Result:
        """An edit: its proposal, then a review widget (``--yes``: applied at once; ``--dry-run``: shown only)."""
        from .edits import run_edit

        return run_edit(self, request, args, edit_id)

    def on_post_run_cell(self, execution) -> None:
        """An answer that became the cell's value is shown there: its streamed display goes."""
        shown, self._shown = self._shown, []
        for result, handle in shown:
            if execution.result is result:
                handle.update({"text/plain": ""}, raw=True)

    def cell_id(self) -> str | None:
        """The id of the cell running now (JupyterLab sends it with each execute request)."""
        kernel = getattr(self.shell, "kernel", None)
        parent = (kernel.get_parent("shell") or {}) if kernel is not None else {}
        return (parent.get("metadata") or {}).get("cellId")

    def insert_code(self, code: str, *, origin: str | None = None, output=None, mode: str = "below") -> None:
        """:meth:`insert` for bare code (a chat reply's block)."""
        from ...core.llm import CodeBlock

        self.insert(AiexResult(text=code, model="", provider="", code_blocks=[CodeBlock("", code)]), mode=mode,
                    origin=origin, output=output)

    def copy_code(self, code: str, *, output) -> None:
        """Put ``code`` on the browser's clipboard, through the aiex JupyterLab extension."""
        import time
        import uuid

        from IPython.display import display

        output.clear_output()  # one copy request kept at a time: nothing piles up to be replayed
        with output:
            display({COPY_MIME: {"code": code, "nonce": uuid.uuid4().hex, "time": time.time()},
                     "text/plain": f"aiex: copy this code:\n\n{code}"}, raw=True)

    def open_chat(self, args) -> Result:
        """``%aiex chat`` with no text: the chat widget on the session (its history, then the conversation);
        ``_aiex_chat`` is it (``.widget.send(text)``, ``.stop()``)."""
        from .chat import ChatRun

        run = ChatRun(self, args)
        self.chats.append(run)
        self.shell.user_ns["_aiex_chat"] = run
        run.show()
        return Result({"session": run.session}, human="", shown=True)

    def insert(self, result: AiexResult | None = None, *, mode: str = "below", origin: str | None = None,
               output=None) -> None:
        """Put the answer's code into a new cell below this one (``mode="replace"``: into this cell).

        In a Jupyter front end this is an output the aiex JupyterLab extension acts on (its insert-cell
        command, once, below the cell that asked; a re-run replaces the cell it inserted instead of adding
        a copy). Elsewhere the output shows the code to copy. In a terminal IPython it is the next input.
        """
        result = result or self.last
        if result is None:
            raise UsageError("No answer yet: ask something first, then `%aiex insert`.")
        if not result.code_blocks:
            raise UsageError("The last answer has no code block to insert.")
        if not self.in_kernel:
            self.shell.set_next_input(result.code, replace=False)
            return
        import uuid

        from IPython.display import display

        origin = origin or self.cell_id()
        fallback = ("aiex: this code goes into a new cell below (the aiex JupyterLab extension puts it there):\n\n"
                    + result.code)
        bundle = {INSERT_MIME: {"code": result.code, "origin": origin, "nonce": uuid.uuid4().hex, "mode": mode},
                  "text/plain": fallback}
        if output is not None:  # from a widget's button: its own output area, under the cell that made it
            with output:
                display(bundle, raw=True)
        else:
            display(bundle, raw=True)

    # -- following the session --------------------------------------------------------------------

    def follow(self) -> None:
        """Keep the current session's state live with what other kernels add to it."""
        from ...runtime.events import Follower

        name = self.service.current_session()
        if self._follower is not None and self._follower.session == name:
            return
        if self._follower is not None:
            self._follower.stop()
        log = self.service.log
        if log is None:
            return
        state = self.service.state(name)
        self._follower = Follower(log, name, state.position, lambda new: self.service.fold_in(name, new),
                                  attach=self._attach_shared).start()

    def _attach_shared(self) -> None:
        """Join the cluster every aiex process on the machine shares (if one runs), to hear its news at once."""
        from ...runtime.cluster import get_runtime
        from ...runtime.shared_cluster import shared_address

        settings = self.settings()
        if settings.scheduler or shared_address(settings.data_dir):
            get_runtime(settings).client
