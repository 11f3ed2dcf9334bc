"""The history actor's rules that need no store: what a wallet entry was, cursors that
round-trip, and role sets that cannot drift from the actors that own the data."""

from __future__ import annotations

from actors.history import decode_cursor, encode_cursor, movement_kind
from actors.orders import BUDGET_SPENDERS
from actors.treasury import WALLET_READERS
from bus.messages.history import OTHERS_ORDERS_READERS, OTHERS_WALLETS_READERS


def test_who_reads_others_history_is_who_reads_their_orders_and_wallets() -> None:
    assert OTHERS_ORDERS_READERS == BUDGET_SPENDERS
    assert OTHERS_WALLETS_READERS == WALLET_READERS


def test_a_wallet_entry_is_told_by_its_transaction() -> None:
    assert movement_kind("rwd_1a2b", 500) == ("reward", "")
    assert movement_kind("bulk_9f:17", 50) == ("reward", "")  # a bulk job's row
    assert movement_kind("ord_7:committed", -200) == ("redemption", "ord_7")
    assert movement_kind("ord_7:hold", -200) == ("redemption", "ord_7")
    assert movement_kind("ord_7:released", 200) == ("refund", "ord_7")
    assert movement_kind("ord_7:cancel-refund", 200) == ("refund", "ord_7")
    assert movement_kind("fix-3", -5) == ("adjustment", "")


def test_cursors_round_trip_and_foreign_ones_are_refused() -> None:
    assert decode_cursor(encode_cursor(1700000000000, "ord_x"), 2) == ["1700000000000", "ord_x"]
    assert decode_cursor(encode_cursor(42), 1) == ["42"]
    assert decode_cursor("not-ours", 2) is None
    assert decode_cursor("!!", 1) is None
    assert decode_cursor(encode_cursor("x", "y"), 2) is None  # position is a number
    assert decode_cursor(encode_cursor(1, "a", "b"), 2) is None
    # digits int() refuses, a number the database cannot hold, an id of another shape
    assert decode_cursor(encode_cursor("²"), 1) is None
    assert decode_cursor(encode_cursor("١٢", "ord_x"), 2) is None
    assert decode_cursor(encode_cursor("9" * 140), 1) is None
    assert decode_cursor(encode_cursor(1, "ord x\u0000"), 2) is None
