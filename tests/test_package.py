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
