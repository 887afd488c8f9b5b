"""``aiex serve metrics``: Prometheus metrics from the event log, on 127.0.0.1.

A :class:`LogCollector` folds the events appended since the last scrape into
:class:`~aiex_kernel.core.metrics.Metrics` (so a scrape costs what is new, not the
whole log) and exposes them with ``prometheus_client``'s text format:

==============================================  ==========================================
``aiex_model_requests_total``                   provider, model, outcome (ok, error)
``aiex_model_errors_total``                     provider, error (aiex's error class)
``aiex_model_tokens_total``                     provider, model, direction (input, output)
``aiex_model_cost_usd_total``                   provider, model
``aiex_model_latency_seconds``                  histogram, provider, model
``aiex_model_ttft_seconds``                     histogram, provider, model (time to first token)
``aiex_index_builds_total``                     where (in-process, cluster)
``aiex_index_files_total``                      kind (indexed, reused: the index's cache hits)
``aiex_index_build_seconds``                    histogram
``aiex_edits_total``                            action (applied, undone)
``aiex_votes_total``
==============================================  ==========================================

Dask's scheduler has no HTTP server while its dashboard is off (aiex's default), so
aiex serves its own: a dashboard for Grafana is in ``docs/grafana-aiex.json``.
"""

from __future__ import annotations

import threading

from ..core.metrics import Metrics

__all__ = ["LogCollector", "serve_metrics"]

class LogCollector:
    """A ``prometheus_client`` collector over the event log in ``data_dir``."""

    def __init__(self, data_dir) -> None:
        self.data_dir = data_dir
        self.metrics = Metrics()
        self._lock = threading.Lock()

    def refresh(self) -> Metrics:
        from ..errors import EventLogError
        from .events import event_log

        with self._lock:
            try:
                self.metrics.fold(event_log(self.data_dir).events(kinds=list(Metrics.KINDS), after=self.metrics.position))
            except EventLogError:
                pass  # no log yet (or unreadable for a moment): the totals so far
            return self.metrics

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        m = self.refresh()

        def counter(name, doc, labels, values):
            family = CounterMetricFamily(name, doc, labels=labels)
            for key, value in sorted(values.items()):
                family.add_metric(list(key) if isinstance(key, tuple) else [key], value)
            return family

        def histograms(name, doc, values):
            family = HistogramMetricFamily(name, doc, labels=["provider", "model"])
            for key, h in sorted(values.items()):
                family.add_metric(list(key), h.cumulative(), h.total)
            return family

        yield counter("aiex_model_requests", "Model calls that ended, by outcome.", ["provider", "model", "outcome"],
                      m.requests)
        yield counter("aiex_model_errors", "Model calls that failed, by error.", ["provider", "error"], m.errors)
        yield counter("aiex_model_tokens", "Tokens sent to and received from models.",
                      ["provider", "model", "direction"], m.tokens)
        yield counter("aiex_model_cost_usd", "What the model calls cost, in US dollars.", ["provider", "model"],
                      m.cost_usd)
        yield histograms("aiex_model_latency_seconds", "Seconds from sending a request to its whole answer.",
                         m.latency)
        yield histograms("aiex_model_ttft_seconds", "Seconds from sending a request to its first token.", m.ttft)
        yield counter("aiex_index_builds", "Context index builds (and checks that it is up to date).", ["where"],
                      m.index_builds)
        yield counter("aiex_index_files", "Files indexed, and files reused unchanged (cache hits).", ["kind"],
                      m.index_files)
        builds = HistogramMetricFamily("aiex_index_build_seconds", "Seconds per index build.")
        builds.add_metric([], m.index_seconds.cumulative(), m.index_seconds.total)
        yield builds
        yield counter("aiex_edits", "Edits applied and undone.", ["action"], m.edits)
        votes = CounterMetricFamily("aiex_votes", "Votes on comparisons.")
        votes.add_metric([], m.votes)
        yield votes


def serve_metrics(data_dir, port: int = 9464, host: str = "127.0.0.1"):
    """Serve ``/metrics`` at ``host:port`` in a background thread; (server, the port it listens on)."""
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(LogCollector(data_dir))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server, server.server_address[1]
