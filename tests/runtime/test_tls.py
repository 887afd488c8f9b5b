"""TLS on the shared cluster: `aiex start cluster --tls` makes certificates, aiex processes use them, and a
client without them (or with another CA's) is refused."""

import json
import subprocess
import sys

import pytest

from aiex_kernel.config import load_settings
from aiex_kernel.errors import ConfigError


def _aiex(*args, env):
    return subprocess.run([sys.executable, "-m", "aiex_kernel.interfaces.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def tls_cluster(tmp_path_factory):
    import os

    data = tmp_path_factory.mktemp("tls-data")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIEX_", "DASK_"))}
    env["AIEX_DATA_DIR"] = str(data)
    started = _aiex("start", "cluster", "--tls", "--workers", "1", "--json", env=env)
    assert started.returncode == 0, started.stderr
    state = json.loads(started.stdout)
    try:
        yield state, data, env
    finally:
        _aiex("stop", "cluster", env=env)


def test_aiex_uses_the_certificates_and_the_key_stays_private(tls_cluster, monkeypatch):
    import os
    import stat

    from aiex_kernel.runtime.cluster import Runtime

    state, data, env = tls_cluster
    assert state["address"].startswith("tls://") and state["tls"]["ca"].startswith(str(data))
    assert stat.S_IMODE(os.stat(state["tls"]["key"]).st_mode) == 0o600
    runtime = Runtime(load_settings(data_dir=data))
    try:
        client = runtime.usable_client()
        assert runtime.kind == "shared" and client.submit(sum, [1, 2, 3], pure=False).result(timeout=30) == 6
    finally:
        runtime.close()
    shown = _aiex("show", "cluster", "--json", env=env)
    assert shown.returncode == 0 and json.loads(shown.stdout)["address"] == state["address"]


def test_a_client_without_the_certificates_is_refused(tls_cluster):
    from distributed import Client
    from distributed.security import Security

    state, _, _ = tls_cluster
    address = state["address"]
    with pytest.raises(Exception):  # noqa: B017 - distributed raises OSError, TimeoutError or TypeError here
        Client(address.replace("tls://", "tcp://"), timeout=3, set_as_default=False)
    with pytest.raises(Exception):  # noqa: B017
        Client(address, timeout=3, set_as_default=False, security=Security.temporary())  # another CA's


def test_a_tls_scheduler_without_certificate_settings_is_a_clear_error(tmp_path):
    from aiex_kernel.runtime.cluster import Runtime

    runtime = Runtime(load_settings(scheduler="tls://127.0.0.1:9", data_dir=tmp_path))
    with pytest.raises(ConfigError, match="AIEX_TLS_CA_FILE"):
        runtime.client
