"""GraphQL for orders (operations shared with REST)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from bus.messages import Err
from edge import operations
from edge.graphql.common import (
    AnyError,
    GqlInfo,
    MinorUnits,
    Money,
    act,
    caller,
    error,
    invalid,
    money,
    mutate,
)
from edge.schemas import CancelOrderIn, OrderCodesOut, OrderOut, PlaceOrderIn, ReviewOrderIn
from edge.validation import Invalid, convert


@strawberry.type
class Order:
    id: strawberry.ID
    status: str
    recipient: str
    payer: str
    product_id: strawberry.ID
    face_value: Money
    price: Money
    voucher_id: str
    failure_reason: str
    external_id: str
    created_at: str
    updated_at: str
    fx_rate: str
    points_rate: str


@strawberry.type
class Voucher:
    id: strawberry.ID
    code: str
    pin: str
    url: str
    expires_at: str | None


@strawberry.type
class OrderVouchers:
    order_id: strawberry.ID
    vouchers: list[Voucher]


OrderResult = Annotated[Order | AnyError, strawberry.union("OrderResult")]
OrderVouchersResult = Annotated[OrderVouchers | AnyError, strawberry.union("OrderVouchersResult")]


@strawberry.input
class PlaceOrderInput:
    product_id: strawberry.ID
    face_value_minor: MinorUnits
    recipient: strawberry.ID
    budget_id: strawberry.ID | None = None
    external_id: str | None = None


def order(out: OrderOut) -> Order:
    return Order(
        id=strawberry.ID(out.id),
        status=out.status,
        recipient=out.recipient,
        payer=out.payer,
        product_id=strawberry.ID(out.product_id),
        face_value=money(out.face_value),
        price=money(out.price),
        voucher_id=out.voucher_id,
        failure_reason=out.failure_reason,
        external_id=out.external_id,
        created_at=out.created_at,
        updated_at=out.updated_at,
        fx_rate=out.fx_rate,
        points_rate=out.points_rate,
    )


def vouchers(out: OrderCodesOut) -> OrderVouchers:
    return OrderVouchers(
        order_id=strawberry.ID(out.order_id),
        vouchers=[
            Voucher(
                id=strawberry.ID(v.id), code=v.code, pin=v.pin, url=v.url, expires_at=v.expires_at
            )
            for v in out.vouchers
        ],
    )


async def get_order(info: GqlInfo, id: strawberry.ID) -> OrderResult:
    result = await operations.get_order(caller(info), str(id))
    return error(result) if isinstance(result, Err) else order(result)


async def get_order_vouchers(info: GqlInfo, order_id: strawberry.ID) -> OrderVouchersResult:
    result = await operations.order_codes(caller(info), str(order_id))
    return error(result) if isinstance(result, Err) else vouchers(result)


async def place_order(
    info: GqlInfo, input: PlaceOrderInput, idempotency_key: str | None = None
) -> OrderResult:
    result: OrderResult = await mutate(
        info, idempotency_key, input, PlaceOrderIn, operations.place_order, order
    )
    return result


async def cancel_order(
    info: GqlInfo, order_id: strawberry.ID, reason: str = "", idempotency_key: str | None = None
) -> OrderResult:
    try:  # the reason's limits are REST's: refused, not cut
        checked = convert({"reason": reason}, CancelOrderIn)
    except Invalid as e:
        return invalid(e, "")

    async def operation(who: operations.Caller) -> OrderOut | Err:
        return await operations.cancel_order(who, str(order_id), checked.reason)

    result: OrderResult = await act(info, idempotency_key, operation, order)
    return result


async def review_order(
    info: GqlInfo,
    order_id: strawberry.ID,
    approve: bool,
    note: str = "",
    idempotency_key: str | None = None,
) -> OrderResult:
    try:
        checked = convert({"approve": approve, "note": note}, ReviewOrderIn)
    except Invalid as e:
        return invalid(e, "")

    async def operation(who: operations.Caller) -> OrderOut | Err:
        return await operations.review_order(who, str(order_id), approve, checked.note)

    result: OrderResult = await act(info, idempotency_key, operation, order)
    return result


async def resend_order(
    info: GqlInfo, order_id: strawberry.ID, idempotency_key: str | None = None
) -> OrderResult:
    async def operation(who: operations.Caller) -> OrderOut | Err:
        return await operations.resend_order(who, str(order_id))

    result: OrderResult = await act(info, idempotency_key, operation, order)
    return result
