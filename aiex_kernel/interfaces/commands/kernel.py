"""``aiex install kernel`` and ``aiex uninstall kernel``: the `aiex` Jupyter kernelspec."""

from __future__ import annotations

from .registry import REGISTRY, Result, arg

KERNEL_NAME = "aiex"

WHERE_ARGS = [
    arg("--user", dest="where", action="store_const", const="user",
        help="for this user (the default): the Jupyter data dir, e.g. ~/.local/share/jupyter"),
    arg("--sys-prefix", dest="where", action="store_const", const="sys-prefix",
        help="in this Python environment (sys.prefix/share/jupyter)"),
    arg("--prefix", dest="prefix", metavar="P", help="under the prefix P (P/share/jupyter)"),
]


def _kernels_dir(args):
    """(where, the kernels directory) for --user / --sys-prefix / --prefix."""
    import sys
    from pathlib import Path

    from ...errors import UsageError

    if args.prefix and args.where:
        raise UsageError("Give one of --user, --sys-prefix and --prefix P.")
    if args.prefix:
        return f"prefix {args.prefix}", Path(args.prefix).expanduser().resolve() / "share" / "jupyter" / "kernels"
    if args.where == "sys-prefix":
        return "sys-prefix", Path(sys.prefix) / "share" / "jupyter" / "kernels"
    from jupyter_core.paths import jupyter_data_dir

    return "user", Path(jupyter_data_dir()) / "kernels"


def kernel_json(python: str) -> dict:
    import sys

    return {
        "argv": [python, "-m", "aiex_kernel", "-f", "{connection_file}"],
        "display_name": f"aiex (Python {sys.version_info.major}.{sys.version_info.minor})",
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {"debugger": True},
    }


@REGISTRY.command("install", "kernel", help="install the `aiex` Jupyter kernelspec (this Python runs it)",
                  args=WHERE_ARGS)
def install_kernel(args, ctx) -> Result:
    """Write the kernelspec named `aiex`, which runs `python -m aiex_kernel` with this Python.
    Jupyter then offers "aiex" as a kernel; `aiex uninstall kernel` removes it."""
    import json
    import shutil
    import sys
    import tempfile
    from pathlib import Path

    from jupyter_client.kernelspec import KernelSpecManager

    where, kernels = _kernels_dir(args)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / KERNEL_NAME
        src.mkdir()
        (src / "kernel.json").write_text(json.dumps(kernel_json(sys.executable), indent=1))
        try:
            import ipykernel

            resources = Path(ipykernel.__file__).parent / "resources"
            for logo in resources.glob("logo-*"):
                shutil.copy(logo, src / logo.name)
        except ImportError:  # pragma: no cover - ipykernel is a dependency
            pass
        manager = KernelSpecManager()
        try:
            if where == "user":
                dest = manager.install_kernel_spec(str(src), KERNEL_NAME, user=True)
            else:
                dest = manager.install_kernel_spec(str(src), KERNEL_NAME, prefix=str(kernels.parents[2]))
        except OSError as exc:
            from ...errors import KernelspecError

            raise KernelspecError(f"Cannot install the kernelspec in {kernels}: {exc.strerror or exc}.") from None
    data = {"name": KERNEL_NAME, "where": where, "path": dest, "argv": kernel_json(sys.executable)["argv"]}
    return Result(data, human=f"Installed the aiex kernelspec in {dest} ({where}).")


@REGISTRY.command("uninstall", "kernel", help="remove the `aiex` Jupyter kernelspec", args=WHERE_ARGS)
def uninstall_kernel(args, ctx) -> Result:
    """Remove the kernelspec named `aiex` from the place --user/--sys-prefix/--prefix names."""
    import shutil

    from ...errors import KernelspecError

    where, kernels = _kernels_dir(args)
    target = kernels / KERNEL_NAME
    if not (target / "kernel.json").is_file():
        raise KernelspecError(f"No aiex kernelspec in {kernels} ({where}); nothing to remove.")
    shutil.rmtree(target)
    return Result({"name": KERNEL_NAME, "where": where, "path": str(target)},
                  human=f"Removed the aiex kernelspec from {target}.")
