"""The server extension app: one assistant service for the server, and its handlers."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp

__all__ = ["AiexServerApp"]


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

    def initialize_handlers(self) -> None:
        from .handlers import handlers

        self.handlers.extend(handlers())

    async def stop_extension(self) -> None:
        service = self.settings.get("aiex_service")
        if service is not None:
            service.close()
