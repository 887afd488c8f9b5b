#!/usr/bin/env bash
# Install aiex as a Dask worker/scheduler image needs it: a virtual environment at PREFIX (default
# /opt/aiex) holding aiex from this source tree and the stock `dask` command. The Dockerfile runs it;
# .ci/run runs it too (into a temporary prefix), so the image's install step is tested on every change.
set -euo pipefail
prefix="${1:-/opt/aiex}"
src="$(cd "$(dirname "$0")/.." && pwd)"
python3 -m venv "$prefix"
"$prefix/bin/python" -m pip install --no-cache-dir --upgrade pip >/dev/null
"$prefix/bin/python" -m pip install --no-cache-dir "$src"
# what a worker must be able to do: import aiex's task code, and run the stock processes
"$prefix/bin/python" -c "import aiex_kernel.runtime.index.parts, aiex_kernel.runtime.providers.streaming, distributed"
"$prefix/bin/dask" worker --help >/dev/null
"$prefix/bin/dask" scheduler --help >/dev/null
echo "aiex worker environment ready in $prefix"
