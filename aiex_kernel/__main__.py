"""``python -m aiex_kernel``: launch the aiex Jupyter kernel (what the `aiex` kernelspec runs)."""

from __future__ import annotations


def main() -> None:
    from ipykernel.kernelapp import IPKernelApp

    from .interfaces.kernel import AiexKernel

    IPKernelApp.launch_instance(kernel_class=AiexKernel)


if __name__ == "__main__":
    main()
