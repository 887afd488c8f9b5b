"""``python -m aiex_kernel``: launch the aiex Jupyter kernel (what the `aiex` kernelspec runs)."""

from __future__ import annotations


def main() -> None:
    from ipykernel.kernelapp import IPKernelApp

    from .interfaces.notebook.kernel import AiexKernel

    class AiexKernelApp(IPKernelApp):
        name = "aiex-kernel"
        description = ("The aiex Jupyter kernel: IPython with the aiex assistant (%aiex, %%aiex and /ask, /chat, "
                       "/explain, /fix cells). Jupyter starts it from the `aiex` kernelspec; install that with "
                       "`aiex install kernel`.")
        subcommands = {}  # ipykernel's `install` would install the plain python3 kernelspec

    AiexKernelApp.launch_instance(kernel_class=AiexKernel)


if __name__ == "__main__":
    main()
