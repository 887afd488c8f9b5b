"""The aiex Jupyter kernel: IPython with the aiex extension (magics and slash cells, :mod:`.slash`) loaded.

With ``prose_as_ask`` (config, off by default) a cell that does not parse as Python
and reads as prose is asked as ``/ask``.
"""

from __future__ import annotations

from ipykernel.ipkernel import IPythonKernel
from traitlets import Bool

from ..._version import __version__

__all__ = ["AiexKernel"]


class AiexKernel(IPythonKernel):
    implementation = "aiex"
    implementation_version = __version__
    banner = ("aiex: IPython with an AI assistant. `%aiex help` lists the commands; cells starting "
              "/ask, /chat, /explain NAME or /fix go to the assistant.")

    prose_as_ask = Bool(None, allow_none=True, config=True,
                        help="Ask a cell that is not Python and reads as prose as /ask "
                             "(default: config.toml's prose_as_ask, false).")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        from .magics import register

        register(self.shell)
        self._prose_setting: bool | None = None

    def prose_as_ask_enabled(self) -> bool:
        if self.prose_as_ask is not None:
            return self.prose_as_ask
        if self._prose_setting is None:
            from ...config import find_project_root, load_settings

            self._prose_setting = load_settings(find_project_root()).prose_as_ask
        return self._prose_setting
