"""Prometheus metrics from the event log: the pure fold, and `aiex serve metrics` scraped over HTTP and parsed
with prometheus_client's own parser."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from aiex_kernel.core import events as ev
from aiex_kernel.core.metrics import Metrics
from aiex_kernel.runtime.events import event_log


def turn(log, n, model="openai:gpt-4o", ok=True, latency=0.3):
    now = time.time()
    log.append(ev.TurnStarted("s", now, turn=f"t{n}", model=model, prompt="q"))
    if ok:
        log.append(ev.Answered("s", now, turn=f"t{n}", text="a", model=model.split(":", 1)[1],
                               provider=model.split(":", 1)[0], input_tokens=100, output_tokens=20, cost_usd=0.001,
                               latency_s=latency, ttft_s=latency / 3))
    else:
        log.append(ev.Failed("s", now, turn=f"t{n}", error="RateLimited", message="429", provider="openai"))


def test_the_fold_counts_requests_tokens_cost_and_latencies():
    m = Metrics()
    m.fold([(1, ev.TurnStarted("s", 0, turn="a", model="ollama:llama3.2:3b")),
            (2, ev.Answered("s", 0, turn="a", model="llama3.2:3b", provider="ollama", input_tokens=5,
                            output_tokens=7, latency_s=1.5, ttft_s=0.2)),
            (3, ev.TurnStarted("s", 0, turn="b", model="ollama:llama3.2:3b")),
            (4, ev.Failed("s", 0, turn="b", error="ProviderTimeout", provider="ollama")),
            (5, ev.IndexBuilt("", 0, indexed=3, reused=40, seconds=0.07, where="tcp://h:8786"))])
    key = ("ollama", "llama3.2:3b")
    assert m.requests[(*key, "ok")] == 1 and m.requests[(*key, "error")] == 1
    assert m.tokens[(*key, "output")] == 7 and m.errors[("ollama", "ProviderTimeout")] == 1
    assert dict(m.latency[key].cumulative())["2.0"] == 1 and dict(m.latency[key].cumulative())["1.0"] == 0
    assert m.index_builds["cluster"] == 1 and m.index_files["reused"] == 40 and m.position == 5


def scrape(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {s.name + str(sorted(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_serve_metrics_is_scraped_and_follows_the_log(tmp_path):
    data = tmp_path / "data"
    log = event_log(data)
    for n in range(3):
        turn(log, n)
    turn(log, 3, ok=False)
    log.append(ev.IndexBuilt("", time.time(), root="/p", indexed=10, reused=90, seconds=0.4))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIEX_")}
    env["AIEX_DATA_DIR"] = str(data)
    proc = subprocess.Popen([sys.executable, "-m", "aiex_kernel.interfaces.cli", "serve", "metrics", "--port", "0"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Serving aiex metrics at http://127.0.0.1:"), (line, proc.stderr.read())
        port = int(line.split(":")[2].split("/")[0])
        got = scrape(port)
        ok = "aiex_model_requests_total[('model', 'gpt-4o'), ('outcome', 'ok'), ('provider', 'openai')]"
        assert got[ok] == 3
        assert got["aiex_model_errors_total[('error', 'RateLimited'), ('provider', 'openai')]"] == 1
        assert got["aiex_model_tokens_total[('direction', 'input'), ('model', 'gpt-4o'), ('provider', 'openai')]"] == 300
        assert abs(got["aiex_model_cost_usd_total[('model', 'gpt-4o'), ('provider', 'openai')]"] - 0.003) < 1e-9
        assert got["aiex_model_latency_seconds_bucket[('le', '0.5'), ('model', 'gpt-4o'), ('provider', 'openai')]"] == 3
        assert got["aiex_model_latency_seconds_count[('model', 'gpt-4o'), ('provider', 'openai')]"] == 3
        assert got["aiex_index_files_total[('kind', 'reused')]"] == 90
        turn(log, 4, latency=7.0)  # appended while it serves
        again = scrape(port)
        assert again[ok] == 4
        assert again["aiex_model_latency_seconds_bucket[('le', '5.0'), ('model', 'gpt-4o'), ('provider', 'openai')]"] == 3
        assert again["aiex_model_latency_seconds_bucket[('le', '10.0'), ('model', 'gpt-4o'), ('provider', 'openai')]"] == 4
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    assert proc.returncode == 0


def test_the_grafana_dashboard_queries_only_metrics_aiex_serves():
    import json
    import re
    from pathlib import Path

    dashboard = json.loads((Path(__file__).resolve().parents[2] / "docs" / "grafana-aiex.json").read_text())
    served = {"aiex_model_requests_total", "aiex_model_errors_total", "aiex_model_tokens_total",
              "aiex_model_cost_usd_total", "aiex_model_latency_seconds_bucket", "aiex_model_ttft_seconds_bucket",
              "aiex_index_builds_total", "aiex_index_files_total", "aiex_index_build_seconds_bucket",
              "aiex_edits_total", "aiex_votes_total"}
    used = {name for p in dashboard["panels"] for t in p["targets"] for name in re.findall(r"aiex_\w+", t["expr"])}
    assert used and used <= served, used - served
