"""What ``/metrics`` writes is the Prometheus text format: read back by Prometheus's own
parser (``prometheus_client``), not by ours."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bus.metrics import Counter, Histogram, MetricsSnapshot, counter, gauge, render


def parsed(text: str) -> dict[str, list[tuple[str, dict[str, str], float]]]:
    return {
        f.name: [(s.name, s.labels, s.value) for s in f.samples]
        for f in text_string_to_metric_families(text)
    }


def test_counters_gauges_and_histograms_read_back_as_written() -> None:
    requests = Counter("perkbus_http_requests", "HTTP requests.", ("route", "status"))
    requests.inc("/api/v1/orders", "201")
    requests.inc("/api/v1/orders", "201")
    requests.inc('/odd "path"\\with\nbreaks', "404")
    seconds = Histogram("perkbus_http_request_seconds", "Time.", ("route",), buckets=(0.01, 0.1))
    for value in (0.005, 0.05, 0.05, 3.0):
        seconds.observe(value, "/api/v1/orders")
    snapshot = MetricsSnapshot(
        "edge-1",
        "edge",
        (
            requests.family(),
            seconds.family(),
            gauge("perkbus_actors_active", "Actors.", 7),
            counter("perkbus_group_commits", "Groups.", 2**40),
        ),
    )
    families = parsed(render([snapshot]))
    base = {"process": "edge-1", "role": "edge"}
    assert families["perkbus_http_requests"] == [
        ("perkbus_http_requests_total", {**base, "route": "/api/v1/orders", "status": "201"}, 2.0),
        (
            "perkbus_http_requests_total",
            {**base, "route": '/odd "path"\\with\nbreaks', "status": "404"},
            1.0,
        ),
    ]
    histogram = families["perkbus_http_request_seconds"]
    buckets = [(s[1]["le"], s[2]) for s in histogram if s[0].endswith("_bucket")]
    assert buckets == [("0.01", 1.0), ("0.1", 3.0), ("+Inf", 4.0)]  # cumulative
    assert ("perkbus_http_request_seconds_count", {**base, "route": "/api/v1/orders"}, 4.0) in (
        histogram
    )
    total = next(s[2] for s in histogram if s[0].endswith("_sum"))
    assert abs(total - 3.105) < 1e-9
    assert families["perkbus_actors_active"] == [("perkbus_actors_active", base, 7.0)]
    assert families["perkbus_group_commits"][0][2] == 2**40


def test_one_family_from_several_processes_has_one_help_and_type() -> None:
    def host(name: str, active: int) -> MetricsSnapshot:
        return MetricsSnapshot(name, "actor-host", (gauge("perkbus_actors_active", "A.", active),))

    text = render([host("h1", 3), host("h2", 5)])
    assert text.count("# TYPE perkbus_actors_active gauge") == 1
    (family,) = text_string_to_metric_families(text)
    assert [(s.labels["process"], s.value) for s in family.samples] == [("h1", 3.0), ("h2", 5.0)]
    assert render([]) == "\n"
