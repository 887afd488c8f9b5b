import subprocess
import sys

import aiex_kernel
from aiex_kernel import errors


def test_all_names_resolve():
    for name in aiex_kernel.__all__:
        assert getattr(aiex_kernel, name) is not None, name
    assert set(aiex_kernel.__all__) >= {"AiexError", "Chunk", "chunk_source", "Sandbox", "chunk_project", "__version__"}


def test_error_tree_has_one_root():
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert name in errors.__doc__, f"{name} missing from the tree drawn in the docstring"
        if name == "Interrupted":  # the user stopped aiex: a KeyboardInterrupt, so Run All stops
            assert issubclass(cls, KeyboardInterrupt) and not issubclass(cls, Exception)
            continue
        assert issubclass(cls, errors.AiexError), name
    assert errors.UsageError.exit_code == 2
    assert errors.SchedulerUnreachable.exit_code == 1


def test_import_is_lazy():
    code = (
        "import sys, aiex_kernel, aiex_kernel.interfaces.commands;"
        "heavy = [m for m in ('dask', 'distributed', 'tree_sitter', 'pydantic', 'rich', 'openai', 'anthropic')"
        " if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_cli_help_imports_no_heavy_module():
    """`aiex --help` (and any usage error) answers before bpe_openai, zarr, scipy, openai, dask or numpy load."""
    code = ("import sys, runpy; sys.argv = ['aiex', '--help'];\n"
            "try:\n    runpy.run_module('aiex_kernel.interfaces.cli', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "heavy = ('bpe_openai', 'zarr', 'scipy', 'openai', 'anthropic', 'dask', 'distributed', 'numpy', 'tree_sitter')\n"
            "print(','.join(m for m in heavy if m in sys.modules), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "VERB" in out.stdout and out.stderr.strip() == ""


def test_installing_installs_the_jupyterlab_and_server_extensions():
    """`pip install` and `pip install -e` both put the built front end and the server extension's config where
    Jupyter finds them (shared data of the wheel), the same files as in the repository."""
    import json
    import sys
    from pathlib import Path

    from jupyter_core.paths import jupyter_config_path, jupyter_path

    repo_ext = Path(aiex_kernel.__file__).parent / "labextension" / "aiex-jupyterlab"
    found = [Path(p) / "aiex-jupyterlab" for p in jupyter_path("labextensions")]
    installed = [p for p in found if (p / "package.json").exists()]
    assert installed, f"no aiex-jupyterlab in {found}; reinstall aiex (pip install -e .)"
    assert (installed[0] / "package.json").read_text() == (repo_ext / "package.json").read_text(), \
        "the installed front end is not the one built in the repository: run `pip install -e .` again"
    configs = [Path(p) / "jupyter_server_config.d" / "aiex.json" for p in jupyter_config_path()]
    enabled = [json.loads(c.read_text()) for c in configs if c.exists()]
    assert any(e["ServerApp"]["jpserver_extensions"].get("aiex_kernel.interfaces.server") for e in enabled), \
        f"the server extension is not enabled in {configs} ({sys.prefix})"
