"""The SQLite ledger's writer process (ADR 29): a writer that dies fails only the group in
flight and is replaced; one that is stopped or abandoned exits; an exchange cut short
never hands its answer to the next group; signals meant for the terminal's process group
do not stop it mid-burst."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.errors import StaleWrite, StorageError, StoreUnavailable
from storage.ports import AccountRecord, ChangeSet, Entry, PutAccount
from storage.sqlite import SqliteLedger
from storage.sqlite_writer import WriterProcess
from tests.support import budget_record, raw_execute


def budget(balance: int, version: int, budget_id: str = "b1") -> AccountRecord:
    return AccountRecord("acme", f"budget:{budget_id}", "budget", "Budget", "EUR", balance, version)


def opening(record: AccountRecord) -> ChangeSet:
    txn = f"open:{record.account_id}"
    return ChangeSet(
        "acme",
        puts=(PutAccount(record, expected_version=0),),
        entries=(
            Entry(txn, "funding", -record.balance_minor, "EUR", 1),
            Entry(txn, record.account_id, record.balance_minor, "EUR", 1),
        ),
    )


def spend(budget_id: str, balance: int, version: int) -> ChangeSet:
    record = budget(balance, version, budget_id)
    return ChangeSet("acme", puts=(PutAccount(record, expected_version=version - 1),))


def writer_of(ledger: SqliteLedger) -> WriterProcess:
    assert ledger._writer is not None
    return ledger._writer


def gone(pid: int) -> bool:
    """Whether process ``pid`` is gone (or a zombie nobody has reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def exited(pid: int) -> bool:
    """Whether process ``pid`` exits within 10 s (a bound only a hang exceeds)."""
    for _ in range(200):
        if gone(pid):
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SqliteLedger]:
    store = SqliteLedger(tmp_path / "ledger.sqlite3", writer="process")
    await store.migrate()
    yield store
    await store.close()


async def test_commits_are_written_by_another_process_and_read_here_at_once(
    ledger: SqliteLedger,
) -> None:
    writer = writer_of(ledger)
    assert writer.pid is not None
    assert writer.pid != os.getpid()
    for version in range(1, 21):
        change = opening(budget(1000, 1)) if version == 1 else spend("b1", 1000 - version, version)
        await ledger.apply([change])
        # read on this process's own connection, right after the writer answered
        stored = await budget_record(ledger, "acme", "b1")
        assert stored is not None
        assert stored.version == version
    assert writer.starts == 1


async def test_a_writer_that_dies_mid_commit_fails_that_group_and_the_next_starts_anew(
    ledger: SqliteLedger,
) -> None:
    writer = writer_of(ledger)
    await ledger.apply([opening(budget(500, 1))])
    first = writer.pid
    assert first is not None
    os.kill(first, signal.SIGSTOP)  # holds the group it is sent, then dies with it
    in_flight = asyncio.ensure_future(ledger.apply([spend("b1", 400, 2)]))
    await asyncio.sleep(0.2)
    assert not in_flight.done()
    os.kill(first, signal.SIGKILL)
    with pytest.raises(StoreUnavailable):
        await in_flight
    assert await budget_record(ledger, "acme", "b1") == budget(500, 1)  # nothing of it written

    await ledger.apply([spend("b1", 400, 2)])
    assert writer.starts == 2
    assert writer.pid not in (None, first)
    assert await budget_record(ledger, "acme", "b1") == budget(400, 2)


async def test_a_hung_writer_is_reported_then_killed_and_replaced(tmp_path: Path) -> None:
    """A writer that stops answering (a stalled disk; here SIGSTOP) froze every commit
    for ever while the ledger's health said ok: now its health fails after a few
    seconds, and after the commit deadline it is killed, its group fails as one whose
    outcome is unknown, and the next group starts another writer."""
    ledger = SqliteLedger(tmp_path / "ledger.sqlite3", writer="process")
    await ledger.migrate()
    writer = writer_of(ledger)
    writer.commit_timeout_s = 6.0
    writer.stuck_after_s = 1.0
    try:
        await ledger.apply([opening(budget(500, 1))])
        hung = writer.pid
        assert hung is not None
        os.kill(hung, signal.SIGSTOP)
        in_flight = asyncio.ensure_future(ledger.apply([spend("b1", 400, 2)]))
        await asyncio.sleep(0.2)
        await ledger.ping()  # waiting a moment is not being stuck
        stuck = None
        for _ in range(40):  # once the group has waited a second (more on a loaded machine)
            await asyncio.sleep(0.1)
            try:
                await ledger.ping()
            except StoreUnavailable as e:
                stuck = e
                break
        assert stuck is not None
        assert "has not answered" in str(stuck)
        with pytest.raises(StoreUnavailable, match="did not answer in 6 s"):
            await in_flight
        assert await exited(hung)  # killed, though stopped
        await ledger.ping()
        await ledger.apply([spend("b1", 400, 2)])  # nothing of the hung group was written
        assert (writer.starts, await budget_record(ledger, "acme", "b1")) == (2, budget(400, 2))
    finally:
        await ledger.close()


async def test_a_writer_that_died_while_idle_is_replaced_before_the_next_group(
    ledger: SqliteLedger,
) -> None:
    writer = writer_of(ledger)
    first = writer.pid
    assert first is not None
    assert writer._child is not None
    os.kill(first, signal.SIGKILL)
    for _ in range(200):  # until this process has seen it end
        if writer._child.returncode is not None:
            break
        await asyncio.sleep(0.05)
    await ledger.apply([opening(budget(9, 1))])  # not refused: a new writer takes it
    assert writer.starts == 2
    assert await budget_record(ledger, "acme", "b1") == budget(9, 1)


async def test_a_group_cut_short_does_not_hand_its_answer_to_the_next(
    ledger: SqliteLedger,
) -> None:
    await ledger.apply([opening(budget(100, 1, f"b{i}")) for i in range(2_000)])
    # a big group, cancelled once sent: its answer ("committed") is still to come
    big = asyncio.ensure_future(ledger.apply([spend(f"b{i}", 90, 2) for i in range(2_000)]))
    for _ in range(3):
        await asyncio.sleep(0)
    big.cancel()
    with pytest.raises(asyncio.CancelledError):
        await big
    # the next group is a stale write whatever became of the big one: it must hear so
    with pytest.raises(StaleWrite):
        await ledger.apply([spend("b0", 10, 9)])
    await ledger.apply([ChangeSet("acme", puts=(PutAccount(budget(5, 3, "x"), 0),))])
    assert await budget_record(ledger, "acme", "x") == budget(5, 3, "x")


async def test_any_other_refusal_is_a_storage_error_the_committer_can_split(
    ledger: SqliteLedger,
) -> None:
    await raw_execute(
        ledger,
        "CREATE TRIGGER no_boom BEFORE INSERT ON ledger_entries WHEN NEW.account = 'boom'"
        " BEGIN SELECT RAISE(ABORT, 'boom is refused'); END",
    )
    refused_entry = ChangeSet("acme", entries=(Entry("t1", "boom", 5, "EUR", 1),))
    with pytest.raises(StorageError, match="boom is refused") as refused:
        await ledger.apply([opening(budget(1, 1)), refused_entry])
    assert not isinstance(refused.value, StoreUnavailable)  # not "the store is down"
    assert await budget_record(ledger, "acme", "b1") is None  # the whole group rolled back
    await ledger.apply([opening(budget(1, 1))])  # and the writer goes on


async def test_signals_to_the_process_group_do_not_stop_the_writer(ledger: SqliteLedger) -> None:
    writer = writer_of(ledger)
    pid = writer.pid
    assert pid is not None
    os.kill(pid, signal.SIGINT)
    os.kill(pid, signal.SIGTERM)
    await asyncio.sleep(0.2)
    await ledger.apply([opening(budget(7, 1))])
    assert writer.pid == pid
    assert writer.starts == 1


async def test_the_writer_exits_when_the_ledger_closes_or_its_host_goes(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "closed.sqlite3", writer="process")
    await ledger.migrate()
    await ledger.apply([opening(budget(3, 1))])
    pid = writer_of(ledger).pid
    assert pid is not None
    await ledger.close()
    assert await exited(pid)

    # a host that vanishes without closing: its end of the socket closes with it
    abandoned = WriterProcess(tmp_path / "abandoned.sqlite3", "FULL")
    await abandoned.start()
    orphan = abandoned.pid
    assert orphan is not None
    assert abandoned._stream is not None
    abandoned._stream[1].transport.abort()
    assert await exited(orphan)
    await abandoned.close()


async def test_a_writer_that_cannot_open_the_database_says_why(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    writer = WriterProcess(tmp_path / "a-file" / "ledger.sqlite3", "FULL")
    with pytest.raises(StoreUnavailable, match="cannot open"):
        await writer.start()
    await writer.close()
