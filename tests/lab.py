"""A real JupyterLab with aiex (its kernel, server extension and front end), for the browser tests and
``benchmarks/panel.py``: started on 127.0.0.1 with a token, everything per user in one directory,
against a loopback LLM server; and Debian's chromium to drive it (through playwright, never
``playwright install``)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
TOKEN = "aiex-browser-test-token"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: the front ends: the module that runs each, and its app's configurable name
APPS = {"jupyterlab": "LabApp", "notebook": "JupyterNotebookApp"}


class Lab:
    """``with Lab(home, llm_url) as lab:`` JupyterLab (``app="notebook"``: Notebook 7) at ``lab.base`` (token
    ``lab.token``), root ``lab.root`` (a small project: pyproject.toml and lib.py), aiex's data in ``lab.data``."""

    def __init__(self, home: Path, llm_url: str, app: str = "jupyterlab") -> None:
        self.home, self.llm_url, self.app = Path(home), llm_url, app
        self.root = self.home / "work"
        self.data = self.home / "data"
        self.token = TOKEN
        self.base = ""
        self.log_path = self.home / "lab.log"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Lab:
        home, root = self.home, self.root
        root.mkdir(parents=True)
        (root / "pyproject.toml").write_text("[project]\nname = 'labbed'\n")  # a project: the panel's context
        (root / "lib.py").write_text("def labbed_function(x):\n    return x * 3\n")
        prefix = home / "prefix"
        subprocess.run([sys.executable, "-m", "aiex_kernel.interfaces.cli", "install", "kernel", "--prefix",
                        str(prefix)], check=True, capture_output=True, env={**os.environ, "AIEX_DATA_DIR": str(self.data)})
        news = home / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
        news.mkdir(parents=True)  # no "get notified about news?" toast over the page
        (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
        (home / "config" / "jupyter_server_config.json").write_text(json.dumps(
            {"ServerApp": {"jpserver_extensions": {"aiex_kernel.interfaces.server": True}}}))
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIEX_", "OPENAI_", "ANTHROPIC_", "JUPYTER"))}
        env.update({"HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config"),
                    "JUPYTER_PATH": str(prefix / "share" / "jupyter"), "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
                    "AIEX_DATA_DIR": str(self.data), "AIEX_CONFIG_DIR": str(home / "aiex-config"),
                    "OPENAI_API_KEY": "sk-test-browser", "OPENAI_BASE_URL": self.llm_url + "/v1",
                    "AIEX_MAX_RETRIES": "0", "IPYTHONDIR": str(home / "ipython")})
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.app, "--no-browser", f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
             f"--{APPS[self.app]}.expose_app_in_browser=True",
             f"--{APPS[self.app]}.extra_labextensions_path={REPO / 'aiex_kernel' / 'labextension'}",
             "--ServerApp.allow_root=True",
             *(["--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
               if self.app == "jupyterlab" else [])],
            cwd=root, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=2)
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError("JupyterLab did not start: " + self.log_path.read_text()[-2000:]) from None
                time.sleep(0.3)

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None
        self._log.close()

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base}/{path}{sep}token={self.token}"


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def open_chat_panel(page) -> float:
    """Open the aiex chat panel; the seconds until its session's history is on screen."""
    return page.evaluate("async () => { const t = performance.now(); "
                         "await window.jupyterapp.commands.execute('aiex:open-chat'); "
                         "return (performance.now() - t) / 1000; }")


#: the chat panel object in the page (its ``connection``, ``open(name)``, ``send()``)
PANEL = "[...window.jupyterapp.shell.widgets('right')].find(w => w.id === 'aiex-chat')"
