"""Who the caller is and what it may do: the map shows only the actions a key's role may take.

The answer is derived from the routes themselves (the roles each ``allow(...)`` admits), so
it cannot drift from what the server enforces; a client still handles 403, since a
setting (``contact_editor_roles``) or a key's revocation can change between two requests.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field

from api.auth import PII_ROLES, Principal, allow, route_roles
from gis.models import ROLES

router = APIRouter(prefix="/api/v1", tags=["operations"])


class MeOut(BaseModel):
    """The calling key (never its token) and the operations its role is admitted to."""

    name: str = Field(description="the key's name, as the audit log shows it")
    prefix: str = Field(description="the key's public prefix")
    role: str = Field(description="one of: " + ", ".join(ROLES))
    sees_pii: bool = Field(description="phone numbers, ID numbers and full addresses come unmasked")
    operations: list[str] = Field(
        description="`METHOD /path` (path templates as in the OpenAPI document) of every operation this role may "
        "call, sorted; e.g. `PATCH /api/v1/customers/{account_no}/contact` tells whether the key may correct contacts")


def operations_for(routes: list, role: str) -> list[str]:
    """``METHOD /path`` of every ``/api/v1`` route whose ``allow(...)`` admits ``role``."""
    out: set[str] = set()
    for route in iter_route_contexts(routes):
        path = getattr(route, "path_format", None) or getattr(route, "path", "")
        if not path.startswith("/api/v1"):
            continue
        roles = route_roles(route)
        if roles is None or role not in roles:
            continue
        for method in route.methods or ():
            if method not in {"HEAD", "OPTIONS"}:
                out.add(f"{method} {path}")
    return sorted(out)


@router.get("/me", summary="The calling key: name, role and the operations it may call", response_model=MeOut)
def me(request: Request, principal: Annotated[Principal, allow(*ROLES)]) -> MeOut:
    return MeOut(name=principal.name, prefix=principal.prefix, role=principal.role,
                 sees_pii=principal.role in PII_ROLES, operations=operations_for(request.app.routes, principal.role))
