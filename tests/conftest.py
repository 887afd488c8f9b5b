"""Shared fixtures: an isolated environment and a real in-process Dask cluster."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

try:  # the Jupyter server extension's tests run on pytest-jupyter's real server
    import pytest_jupyter  # noqa: F401

    pytest_plugins = ["pytest_jupyter.jupyter_server"]
except ImportError:
    pass


def _serves_jupyter(request) -> bool:
    return any(name in ("jp_fetch", "jp_ws_fetch", "jp_serverapp") for name in request.fixturenames)


@pytest.fixture
def jp_asyncio_loop(request):
    """pytest-jupyter's loop (it is autouse there), only for the tests that run a Jupyter server: the others
    (kernels, browsers, the service's own loops) keep theirs."""
    if not _serves_jupyter(request):
        yield None
        return
    from jupyter_core.utils import ensure_event_loop

    loop = ensure_event_loop(prefer_selector_loop=True)
    yield loop
    loop.close()


@pytest.fixture
def jp_server_cleanup(request, jp_asyncio_loop):
    """pytest-jupyter's clean-up of its server, for the tests that run one."""
    yield
    if jp_asyncio_loop is None:
        return
    from jupyter_server.serverapp import ServerApp

    app = ServerApp.instance()
    try:
        jp_asyncio_loop.run_until_complete(app._cleanup())
    except (RuntimeError, SystemExit):
        pass
    if hasattr(app, "kernel_manager"):
        app.kernel_manager.context.destroy()
    ServerApp.clear_instance()

#: Variables a test must never inherit from the developer's environment.
_SCRUB_PREFIXES = ("AIEX_", "OPENAI_", "ANTHROPIC_", "OLLAMA_", "LMSTUDIO_", "DASK_")


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """No real config, keys or data dir: everything per user lives in a tmp dir."""
    for name in list(os.environ):
        if name.startswith(_SCRUB_PREFIXES):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("AIEX_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("AIEX_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(home / "jupyter"))
    monkeypatch.setenv("IPYTHONDIR", str(home / "ipython"))
    yield home
    from aiex_kernel.runtime import file_watch

    file_watch.enable(False)  # a test that loaded the extension in this process leaves no watcher behind


@pytest.fixture(scope="session")
def dask_cluster():
    """A real in-process cluster: 2 workers x 1 thread, no dashboard."""
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None,
                           scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
    yield cluster
    cluster.close()


@pytest.fixture
def runtime(dask_cluster):
    """The process runtime, attached to the in-process cluster."""
    from aiex_kernel.config import load_settings
    from aiex_kernel.runtime.cluster import Runtime, set_runtime

    rt = Runtime(load_settings(), cluster=dask_cluster)
    old = set_runtime(rt)
    yield rt
    set_runtime(old)
    rt.close()


def _aiex_command() -> list[str]:
    script = Path(sys.executable).with_name("aiex")
    return [str(script)] if script.exists() else [sys.executable, "-m", "aiex_kernel.interfaces.cli"]


@pytest.fixture
def cli(tmp_path_factory):
    """Run the real installed ``aiex`` command in a subprocess (by default in an empty directory that is
    in no project, so no project context is picked up)."""
    import subprocess

    outside = tmp_path_factory.mktemp("cwd")

    def run(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 180,
            wrap: list[str] = (), input: str | None = None):
        """``wrap``: a command the aiex command runs under (its arguments follow); ``input``: piped to it."""
        full_env = {**os.environ, **(env or {})}
        return subprocess.run([*wrap, *_aiex_command(), *args], cwd=cwd or outside, env=full_env,
                              capture_output=True, text=True, timeout=timeout, input=input)

    return run


def _load_helper(name: str):
    """Import tests/NAME.py as the module ``NAME`` (importlib mode puts tests/ on no path)."""
    import importlib.util

    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def _load_llm_server():
    return _load_helper("llm_server")


_load_llm_server()  # so that tests may also `from llm_server import ...`
_load_helper("kernel_client")  # `from kernel_client import execute, start_kernel`
_load_helper("lab")  # `from lab import Lab, ...`: JupyterLab and chromium for the browser tests
_load_helper("deployment")  # `from deployment import Deployment`: stock scheduler and worker processes
_load_helper("trees")  # `from trees import write`: small file trees


@pytest.fixture
def llm_server():
    """A loopback server speaking the OpenAI, Anthropic and Ollama wire protocols (see tests/llm_server.py)."""
    with _load_llm_server().LLMServer() as server:
        yield server


@pytest.fixture(scope="module")
def llm_server_module():
    """One loopback LLM server for a whole module (browser tests share a JupyterLab that points at it)."""
    with _load_llm_server().LLMServer() as server:
        yield server
