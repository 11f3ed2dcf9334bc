"""Forgot your password? Links to set one, emailed (ADR 42).

``POST /auth/password-reset/request`` takes a tenant and an email and answers 202 with
the same words whatever becomes of it: a link for an active person of the tenant, nothing
for anyone else (nobody learns which addresses are people's). The people actor records
the request and emits a private event; the mailer makes the link's token when it sends
the email. The answer comes no sooner than :data:`ANSWER_AFTER_S` after the request, so
that recording (a write) takes no longer to see than finding nobody. Like sign-in it is
limited per client address; besides, an address gets at most
``password_links_per_email_per_h`` links an hour (more are answered alike, and sent
nowhere), so that nobody can fill someone's inbox.

``POST /auth/password-reset`` takes the tenant, the link's token and a new password: the
token works once, every session of the person ends, and the answer signs the person in as
``POST /auth/sign-in`` does (cookies or bearer tokens). An expired, used, replaced or
unknown token gets one answer, which does not say which.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bus.messages import Err
from edge.cors import BODY_TENANT
from edge.http import CONFIG, LIMITER, ProblemResponse, json_response, read_json
from edge.problems import from_error
from edge.schemas import PasswordLinkAskedOut, PasswordLinkAskIn, PasswordResetIn
from edge.sessions import PASSWORD_LINK_PATH, PASSWORD_RESET_PATH, anonymous, session_answer

routes = web.RouteTableDef()

#: The least time an ask is answered in: more than the actor's write takes.
ANSWER_AFTER_S = 0.25
ASKED = "If an account exists for that address, we have emailed it a link to choose a password."


@routes.post(PASSWORD_LINK_PATH)
async def ask_for_link(request: web.Request) -> web.Response:
    loop = asyncio.get_running_loop()
    answer_at = loop.time() + ANSWER_AFTER_S
    data = await read_json(request, PasswordLinkAskIn)
    request[BODY_TENANT] = data.tenant  # whose allowed origins may read the answer
    if await _under_limit(request, data.tenant, data.email):
        result = await anonymous(request).ask_password_link(data.tenant, data.email)
        if isinstance(result, Err):  # the actors did not answer: nothing about the address
            raise ProblemResponse(
                from_error(result.code, result.message, result.retryable, request.path)
            )
    await asyncio.sleep(max(0.0, answer_at - loop.time()))
    response = json_response(PasswordLinkAskedOut(ASKED), status=202)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _under_limit(request: web.Request, tenant: str, email: str) -> bool:
    per_hour = request.app[CONFIG].password_links_per_email_per_h
    if per_hour <= 0:
        return True
    key = f"pw-link:{tenant}:{email.lower()}"
    return await request.app[LIMITER].take(key, per_hour / 3600, per_hour) <= 0


@routes.post(PASSWORD_RESET_PATH)
async def reset_password(request: web.Request) -> web.Response:
    data = await read_json(request, PasswordResetIn)
    request[BODY_TENANT] = data.tenant
    result = await anonymous(request).reset_password(data.tenant, data.token, data.password)
    if isinstance(result, Err):
        raise ProblemResponse(
            from_error(result.code, result.message, result.retryable, request.path)
        )
    return session_answer(request, result, data.mode)
