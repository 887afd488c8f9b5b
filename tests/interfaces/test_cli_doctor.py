"""`aiex doctor` as a user runs it: a healthy machine, broken parts, a read-only data dir."""

import json
import shutil
import subprocess

import pytest

from llm_server import closed_url


def checks_of(r) -> dict:
    data = json.loads(r.stdout)
    return data, {c["name"]: c for c in data["checks"]}


def test_healthy(cli):
    pytest.importorskip("llama_cpp")
    r = cli("doctor", "--json", timeout=240)
    data, checks = checks_of(r)
    assert r.returncode == 0 and data["ok"], r.stdout
    for name in ("python", "packages", "cpu", "default model", "provider openai", "embedded model", "tokenizer",
                 "dask runtime", "kernelspec", "data dir", "index"):
        assert name in checks, name
    assert checks["default model"]["detail"].startswith("local:smollm2-135m-instruct")
    assert checks["embedded model"]["status"] == "ok" and "own process" in checks["embedded model"]["detail"]
    assert "AVX512" not in checks["embedded model"]["detail"]
    assert checks["provider openai"]["status"] == "skip" and "OPENAI_API_KEY unset" in checks["provider openai"]["detail"]
    assert checks["dask runtime"]["status"] == "ok" and "ran one task" in checks["dask runtime"]["detail"]
    assert checks["data dir"]["status"] == "ok"


def test_broken_provider_and_unreachable_scheduler(cli):
    scheduler = closed_url().replace("http", "tcp")
    env = {"OPENAI_API_KEY": "sk-test-doctor-key-1234567890", "OPENAI_BASE_URL": closed_url() + "/v1",
           "AIEX_SCHEDULER": scheduler, "AIEX_CONNECT_TIMEOUT": "1", "AIEX_MAX_RETRIES": "0"}
    r = cli("doctor", "--json", env=env, timeout=240)
    data, checks = checks_of(r)
    assert r.returncode == 1 and not data["ok"]
    openai = checks["provider openai"]
    assert openai["status"] == "fail" and openai["essential"] and "OPENAI_API_KEY set" in openai["detail"]
    assert "sk-test-doctor" not in r.stdout  # a key is set or unset, never shown
    runtime = checks["dask runtime"]
    assert runtime["status"] == "fail" and scheduler in runtime["detail"]
    human = cli("doctor", env=env, timeout=240)
    assert human.returncode == 1
    assert "To fix:" in human.stdout and "OPENAI_API_KEY" in human.stdout
    assert "The default path does not work" in human.stdout


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare to mount a read-only file system")
def test_read_only_data_dir(cli, tmp_path):
    data_dir = tmp_path / "ro-data"
    data_dir.mkdir()
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot make a mount namespace here")
    r = cli("doctor", "--json", timeout=240, env={"AIEX_DATA_DIR": str(data_dir / "aiex")},
            wrap=["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o ro tmpfs "{data_dir}" && exec "$@"', "sh"])
    data, checks = checks_of(r)
    assert r.returncode == 1 and not data["ok"]
    assert checks["data dir"]["status"] == "fail" and "Read-only file system" in checks["data dir"]["detail"]
    assert "AIEX_DATA_DIR" in checks["data dir"]["fix"]
