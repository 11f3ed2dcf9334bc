"""Metrics in the Prometheus text format (version 0.0.4), without a client library.

Each process keeps plain counters and histograms (a dict increment on the request path,
no lock: one event loop writes them) and turns them into :class:`Family` records when
asked. Families travel over NATS as msgspec Structs (ADR 40): an edge's ``/metrics``
gathers every process's and writes them out with :func:`render`, each sample labelled with
the process it came from.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import msgspec

Kind = Literal["counter", "gauge", "histogram"]
Labels = tuple[tuple[str, str], ...]
#: Seconds: from a millisecond (a cached answer) to ten (a request's limit).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Sample(msgspec.Struct, frozen=True, array_like=True):
    #: The sample's name: the family's, or with ``_bucket``, ``_sum``, ``_count``.
    name: str
    labels: Labels
    value: float


class Family(msgspec.Struct, frozen=True):
    name: str
    kind: Kind
    help: str
    samples: tuple[Sample, ...]


class MetricsSnapshot(msgspec.Struct, frozen=True, tag="metrics.snapshot"):
    """What one process answers on ``pb.sys.metrics``."""

    process: str
    role: str
    families: tuple[Family, ...]


class Counter:
    def __init__(self, name: str, help: str, label_names: Sequence[str] = ()) -> None:
        self.name, self.help, self.label_names = name, help, tuple(label_names)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, *label_values: str, by: float = 1.0) -> None:
        self.values[label_values] = self.values.get(label_values, 0.0) + by

    def family(self) -> Family:
        samples = tuple(
            Sample(self.name + "_total", tuple(zip(self.label_names, k, strict=True)), v)
            for k, v in sorted(self.values.items())
        )
        return Family(self.name, "counter", self.help, samples)


class Histogram:
    def __init__(
        self,
        name: str,
        help: str,
        label_names: Sequence[str] = (),
        buckets: Sequence[float] = LATENCY_BUCKETS,
    ) -> None:
        self.name, self.help, self.label_names = name, help, tuple(label_names)
        self.buckets = tuple(buckets)
        #: labels → (count in each bucket alone, then past the last; sum)
        self.values: dict[tuple[str, ...], tuple[list[int], list[float]]] = {}

    def observe(self, value: float, *label_values: str) -> None:
        found = self.values.get(label_values)
        if found is None:
            found = self.values[label_values] = ([0] * (len(self.buckets) + 1), [0.0])
        found[0][bisect.bisect_left(self.buckets, value)] += 1
        found[1][0] += value

    def family(self) -> Family:
        samples: list[Sample] = []
        for key, (counts, total) in sorted(self.values.items()):
            labels = tuple(zip(self.label_names, key, strict=True))
            running = 0
            for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
                running += n
                le = "+Inf" if bound == math.inf else repr(bound)
                samples.append(Sample(self.name + "_bucket", (*labels, ("le", le)), running))
            samples.append(Sample(self.name + "_sum", labels, total[0]))
            samples.append(Sample(self.name + "_count", labels, running))
        return Family(self.name, "histogram", self.help, tuple(samples))


def gauge(name: str, help: str, value: float, labels: Labels = ()) -> Family:
    return Family(name, "gauge", help, (Sample(name, labels, value),))


def counter(name: str, help: str, value: float, labels: Labels = ()) -> Family:
    """A counter kept elsewhere (a stats struct), as a family."""
    return Family(name, "counter", help, (Sample(name + "_total", labels, value),))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return str(int(value)) if value == int(value) and abs(value) < 2**53 else repr(value)


def render(snapshots: Iterable[MetricsSnapshot]) -> str:
    """The families of every snapshot, each sample labelled ``process`` and ``role``;
    families of one name (from several processes) under one HELP and TYPE."""
    merged: dict[str, tuple[Family, list[str]]] = {}
    for snapshot in snapshots:
        extra = (("process", snapshot.process), ("role", snapshot.role))
        for family in snapshot.families:
            entry = merged.setdefault(family.name, (family, []))
            for s in family.samples:
                labels = ",".join(f'{k}="{_escape(v)}"' for k, v in (*extra, *s.labels))
                entry[1].append(f"{s.name}{{{labels}}} {_number(s.value)}")
    lines: list[str] = []
    for name, (family, samples) in sorted(merged.items()):
        # the text format names a counter by its samples' name, ``_total`` and all
        named = f"{name}_total" if family.kind == "counter" else name
        lines.append(f"# HELP {named} {family.help}")
        lines.append(f"# TYPE {named} {family.kind}")
        lines.extend(samples)
    return "\n".join(lines) + "\n"


#: What a process gives when asked for its metrics.
Collector = Callable[[], Iterable[Family]]
