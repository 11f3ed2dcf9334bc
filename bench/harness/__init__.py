"""``perkbus bench``: the same burst against perkbus, the classic baseline and the ceiling,
in one invocation on one machine.

Each system runs in its own processes on free ports in a temp directory and is torn down
afterwards; wrk (a separate process, with a Lua script from :mod:`bench.harness.wrk`)
warms it up, then measures a burst while :mod:`bench.harness.processes` samples the CPU
time of each process; once the system is stopped its books are checked. The modules:
``options`` (what was asked), ``perkbus_system`` / ``classic_system`` / ``ceiling_system``
(start, seed, check), ``perkbus_invariants``, ``bursts`` (one scenario on one system),
``bulk`` (one bulk rewards job), ``report`` (table, ratios, targets, JSON), ``run``.
"""
