"""Progress bars for long work: rich in a terminal, an ipywidgets bar in Jupyter (removed when done),
silent otherwise."""

from __future__ import annotations

import importlib.util
import sys
from typing import Protocol

__all__ = ["Progress", "progress_bar", "status"]


class Progress(Protocol):
    def advance(self, n: int = 1) -> None: ...
    def __enter__(self) -> Progress: ...
    def __exit__(self, *exc) -> None: ...


class _Silent:
    def advance(self, n: int = 1) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


class _Rich:
    def __init__(self, total: int, description: str, unit: str):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(unit),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task(description, total=total)

    def advance(self, n: int = 1) -> None:
        self._bar.advance(self._task, n)

    def __enter__(self):
        self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self._bar.stop()


class _Widget:
    """A progress bar in a Jupyter output (ipywidgets), removed when the work is done."""

    def __init__(self, total: int, description: str, unit: str):
        import ipywidgets
        from IPython.display import display

        self.total, self.unit, self.done = total, unit, 0
        self._bar = ipywidgets.IntProgress(value=0, min=0, max=max(1, total), description=description,
                                           style={"description_width": "initial"},
                                           layout=ipywidgets.Layout(width="60%"))
        self._label = ipywidgets.Label(f"0 / {total:,} {unit}")
        self._box = ipywidgets.HBox([self._bar, self._label])
        self._handle = display(self._box, display_id=True)

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._bar.value = min(self.done, self.total)
        self._label.value = f"{self.done:,} / {self.total:,} {self.unit}"

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._box.close()
        if self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)


def _in_jupyter() -> bool:
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


#: jobs with fewer items finish before a bar would tell anything
MIN_ITEMS = 50


def progress_bar(total: int, description: str, *, enabled: bool = True, unit: str = "files") -> Progress:
    """A progress bar suited to where we run; silent when disabled, not interactive, or the job is small."""
    if not enabled or total < MIN_ITEMS:
        return _Silent()
    if _in_jupyter():
        return _Widget(total, description, unit) if importlib.util.find_spec("ipywidgets") else _Silent()
    if sys.stderr is not None and sys.stderr.isatty():
        return _Rich(total, description, unit)
    return _Silent()


def status(message: str, *, enabled: bool = True):
    """A spinner with ``message`` on stderr while a slow step runs (terminal only)."""
    import contextlib

    if enabled and not _in_jupyter() and sys.stderr is not None and sys.stderr.isatty():
        from rich.console import Console

        return Console(stderr=True).status(message)
    return contextlib.nullcontext()
