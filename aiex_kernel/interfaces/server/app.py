"""The server extension app: one assistant service for the server, and its handlers."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp

__all__ = ["AiexServerApp"]

#: what the first request would otherwise import on the server's event loop (seconds of it, for the SDKs)
WARM_MODULES = ("aiex_kernel.runtime.providers.selection", "aiex_kernel.runtime.providers.openai_compat",
                "aiex_kernel.runtime.providers.anthropic_api", "aiex_kernel.runtime.providers.ollama_api",
                "aiex_kernel.runtime.ask", "aiex_kernel.interfaces.turns", "openai", "anthropic", "ollama")


def warm_up(service) -> None:
    """Import the providers' SDKs and open the event log in a thread, as the server starts: the chat panel's
    first requests then find them loaded instead of importing them on the event loop."""
    import importlib

    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional SDK that is not installed: its provider says so when asked
            pass
    service.log  # noqa: B018 - opens (or creates) the log


class AiexServerApp(ExtensionApp):
    """``/aiex/api/...`` on a Jupyter server (JupyterLab's chat panel talks to it)."""

    name = "aiex"
    extension_url = "/aiex/api/models"
    load_other_extensions = True

    def initialize_settings(self) -> None:
        from pathlib import Path

        from ...config import find_project_root, load_settings
        from ...runtime.service import AssistantService

        root = Path(self.serverapp.root_dir).expanduser()
        self.project = find_project_root(path=root)
        self.service = AssistantService(lambda: load_settings(self.project), origin="server")
        self.settings.update({"aiex_service": self.service, "aiex_root": str(root)})
        import threading

        threading.Thread(target=warm_up, args=(self.service,), name="aiex-warm-up", daemon=True).start()

    def initialize_handlers(self) -> None:
        from .handlers import handlers

        self.handlers.extend(handlers())

    async def stop_extension(self) -> None:
        service = self.settings.get("aiex_service")
        if service is not None:
            service.close()
