"""The ceiling: perkbus's topology with the work removed, the most it can do on a machine.

An aiohttp edge (on uvloop) turns ``POST /api/v1/orders`` into a msgspec-encoded request
on a per-tenant NATS subject; an actor process (a queue-group subscriber) puts each request
into its tenant's mailbox; ONE group committer takes every request pending in every
mailbox, writes one row per request in one transaction (SQLite with ``synchronous=FULL``
in its own thread, as perkbus does, or MariaDB), and only then replies. No
authentication, no idempotency, no ledger: what is left is the cost of the hops and the
commit, which no feature of perkbus can make cheaper. ``perkbus bench`` compares perkbus
with it; see bench/README.md.

    python -m bench.ceiling actor --nats nats://127.0.0.1:4333 --db sqlite:/tmp/c.sqlite3
    python -m bench.ceiling edge --nats nats://127.0.0.1:4333 --port 18100
"""
