"""The grants a principal may carry, as messages and tokens spell them (``bus.acl``)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from bus.messages.budget import BUDGET_ID_SYNTAX
from bus.messages.common import whole

BUDGET = "budget"

#: A resource the principal may act on; budgets are the kind perkbus has today.
Grant = Annotated[
    str,
    msgspec.Meta(
        pattern=whole(f"{BUDGET}:{BUDGET_ID_SYNTAX}"),
        description="A resource the principal may act on: budget:<budget id>",
    ),
]
