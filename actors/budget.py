"""The budget actor: sole writer of one budget's balance.

State is the budget row (balance and version). A batch of debits is decided in memory,
in arrival order: each either fits the balance (and becomes a pair of ledger entries, a
receipt and a ``budget.debited`` event) or is refused with ``insufficient_funds``. The
batch ends in one fenced write of the new balance at version + 1.

Accounts (double entry; every transaction sums to zero):
``funding`` pays into ``budget:<id>`` when a budget opens, and a debit moves money from
``budget:<id>`` to ``spent:<id>``.
"""

from __future__ import annotations

from collections.abc import Sequence

from msgspec.structs import replace

from actors.runtime.actor import ActorContext, ActorKey, ActorKind, Decision
from bus.errors import ErrorCode
from bus.events import OutboxEvent, make_event
from bus.messages import Err, Ok, Reply, Request
from bus.messages.budget import (
    KIND,
    BudgetCreated,
    BudgetDebited,
    BudgetView,
    CreateBudget,
    DebitBudget,
    DebitReceipt,
    GetBudget,
)
from bus.messages.common import Money
from bus.time import now_ms
from storage.ports import BudgetRecord, ChangeSet, Entry, PutBudget

FUNDING_ACCOUNT = "funding"


def budget_account(budget_id: str) -> str:
    return f"budget:{budget_id}"


def spent_account(budget_id: str) -> str:
    return f"spent:{budget_id}"


class BudgetActor:
    def __init__(self, ctx: ActorContext, key: ActorKey) -> None:
        self.ctx = ctx
        self.key = key
        self.state: BudgetRecord | None = None
        self._committed_version = 0
        self._batch_start: BudgetRecord | None = None

    async def on_activate(self) -> None:
        self.state = await self.ctx.ledger.load_budget(self.key.tenant, self.key.key)
        self._committed_version = 0 if self.state is None else self.state.version

    async def on_deactivate(self, reason: str) -> None:
        self.state = None

    async def handle(self, batch: Sequence[Request]) -> Decision:
        if self.state is None:
            # "Not found" is only as good as the last look: the budget may have been opened
            # since (through another host, before partition leases make that impossible).
            await self.on_activate()
        start = self._batch_start = self.state
        replies: list[Reply] = []
        entries: list[Entry] = []
        events: list[OutboxEvent] = []
        now = now_ms()
        for request in batch:
            match request.body:
                case GetBudget():
                    replies.append(self._view())
                case DebitBudget() as debit:
                    replies.append(self._debit(debit, now, entries, events))
                case CreateBudget() as create:
                    replies.append(self._create(create, now, entries, events))
                case _:
                    replies.append(Err.of(ErrorCode.INVALID_REQUEST, "not a budget request"))
        if self.state is None or self.state == start:
            return Decision(replies)
        expected = self._committed_version
        record = self.state = replace(self.state, version=expected + 1)
        self._committed_version = expected + 1  # on a failed commit, on_activate resets it
        changes = ChangeSet(
            tenant=self.key.tenant,
            puts=(PutBudget(record, expected_version=expected),),
            entries=tuple(entries),
            events=tuple(events),
        )
        return Decision(replies, changes)

    def _view(self) -> Reply:
        s = self.state
        if s is None:
            return Err.of(ErrorCode.NOT_FOUND, f"budget {self.key.key} does not exist")
        # Replies go out after the batch commits: a view taken after a change in this
        # batch names the version about to be written.
        version = self._committed_version + (s != self._batch_start)
        return Ok(BudgetView(s.budget_id, s.name, Money(s.balance_minor, s.currency), version))

    def _create(
        self, cmd: CreateBudget, now: int, entries: list[Entry], events: list[OutboxEvent]
    ) -> Reply:
        if self.state is not None:
            return Err.of(ErrorCode.ALREADY_EXISTS, f"budget {cmd.budget_id} already exists")
        if cmd.initial.amount_minor < 0:
            return Err.of(ErrorCode.INVALID_REQUEST, "initial funding cannot be negative")
        amount, currency = cmd.initial.amount_minor, cmd.initial.currency
        self.state = BudgetRecord(self.key.tenant, cmd.budget_id, cmd.name, currency, amount, 0)
        txn = f"open:{cmd.budget_id}"
        entries.append(Entry(txn, FUNDING_ACCOUNT, -amount, currency, now))
        entries.append(Entry(txn, budget_account(cmd.budget_id), amount, currency, now))
        events.append(
            make_event(
                self.key.tenant,
                KIND,
                "created",
                cmd.budget_id,
                BudgetCreated(cmd.budget_id, cmd.name, cmd.initial),
            )
        )
        return Ok(BudgetView(cmd.budget_id, cmd.name, cmd.initial, 1))

    def _debit(
        self, cmd: DebitBudget, now: int, entries: list[Entry], events: list[OutboxEvent]
    ) -> Reply:
        s = self.state
        if s is None:
            return Err.of(ErrorCode.NOT_FOUND, f"budget {cmd.budget_id} does not exist")
        amount = cmd.amount
        if amount.currency != s.currency:
            return Err.of(
                ErrorCode.CURRENCY_MISMATCH,
                f"budget {s.budget_id} is in {s.currency}, not {amount.currency}",
            )
        if amount.amount_minor <= 0:
            return Err.of(ErrorCode.INVALID_REQUEST, "a debit must be a positive amount")
        if amount.amount_minor > s.balance_minor:
            return Err.of(
                ErrorCode.INSUFFICIENT_FUNDS,
                f"budget {s.budget_id} has {s.balance_minor} {s.currency} minor units left",
            )
        balance = s.balance_minor - amount.amount_minor
        self.state = replace(s, balance_minor=balance)
        entries.append(
            Entry(cmd.debit_id, budget_account(s.budget_id), -amount.amount_minor, s.currency, now)
        )
        entries.append(
            Entry(cmd.debit_id, spent_account(s.budget_id), amount.amount_minor, s.currency, now)
        )
        after = Money(balance, s.currency)
        events.append(
            make_event(
                self.key.tenant,
                KIND,
                "debited",
                s.budget_id,
                BudgetDebited(s.budget_id, cmd.debit_id, amount, after, cmd.memo),
            )
        )
        return Ok(DebitReceipt(cmd.debit_id, s.budget_id, amount, after, now))


BUDGET = ActorKind(KIND, BudgetActor, accepts=(GetBudget, CreateBudget, DebitBudget))
