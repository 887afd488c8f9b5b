"""The aiex Jupyter server extension: REST and websocket endpoints over the assistant service.

Installed with the package and enabled by the ``jupyter_server_config.d/aiex.json``
file it ships, so ``jupyter lab`` (or any Jupyter server) serves ``/aiex/api/...``
behind Jupyter's own authentication. See :mod:`.app`.
"""

from __future__ import annotations

__all__ = ["_jupyter_server_extension_points"]


def _jupyter_server_extension_points() -> list[dict]:
    from .app import AiexServerApp

    return [{"module": "aiex_kernel.interfaces.server", "app": AiexServerApp}]
