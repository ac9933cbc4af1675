"""FastAPI dependencies: context, session, current user, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from api.accounts import service as accounts
from api.accounts.tables import Role, User
from api.context import AppContext
from api.scope import Scope, scope_for

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[AppContext, Depends(get_ctx)]


def get_session(ctx: CtxDep) -> Iterator[Session]:
    """The request's one session: commits when the route returns, rolls back when it raises.

    ``scope="function"``: the commit happens before the response is sent, so a
    client never sees a success that was not stored.
    """
    with ctx.database.transaction() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def login_throttle(request: Request, ctx: CtxDep) -> str | None:
    """Count a log-in style request against its client address (429 past the allowance).

    Runs before any secret is looked at; the address is what the route counts further."""
    address = request.client.host if request.client else None
    ctx.throttle.check_address(address)
    return address


ClientAddress = Annotated[str | None, Depends(login_throttle)]


def current_user(
    session: SessionDep, ctx: CtxDep, token: Annotated[str | None, Depends(oauth2)]
) -> User:
    if not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "log in first: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = accounts.user_for_token(session, ctx, token)
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "the token is unknown, expired or revoked; log in again",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require(*roles: Role) -> Callable[[User], User]:
    """A dependency that lets only ``roles`` through (403 for everyone else)."""
    allowed = frozenset(roles)
    names = ", ".join(sorted(role.value for role in allowed))

    def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the role: {names}")
        return user

    check.roles = allowed  # type: ignore[attr-defined]  # read by the route matrix test
    return check


Operator = Annotated[User, Depends(require(Role.operator))]
ManufacturerUser = Annotated[User, Depends(require(Role.manufacturer))]
OperatorOrManufacturer = Annotated[User, Depends(require(Role.operator, Role.manufacturer))]
Clinician = Annotated[User, Depends(require(Role.clinician))]
CdcOfficer = Annotated[User, Depends(require(Role.cdc_officer))]
PatientUser = Annotated[User, Depends(require(Role.patient))]
HealthStaff = Annotated[User, Depends(require(Role.clinician, Role.cdc_officer))]
TestViewer = Annotated[User, Depends(require(Role.patient, Role.clinician, Role.cdc_officer))]
DataScientist = Annotated[User, Depends(require(Role.data_scientist))]
EventViewer = Annotated[User, Depends(require(Role.clinician, Role.cdc_officer, Role.operator))]
StatsViewer = Annotated[User, Depends(require(Role.cdc_officer, Role.data_scientist))]


def stream_viewer(
    session: SessionDep,
    ctx: CtxDep,
    token: Annotated[str | None, Depends(oauth2)],
    stream_token: Annotated[
        str | None,
        Query(
            max_length=200,
            description="for a browser's EventSource, which cannot send headers: a token from "
            "POST /api/events/stream-token (valid 60 s to connect)",
        ),
    ] = None,
) -> User:
    """The caller of the event stream: by bearer token, or by a short-lived stream token."""
    user = current_user(session, ctx, token or stream_token)
    return require(Role.clinician, Role.cdc_officer, Role.operator)(user)


StreamViewer = Annotated[User, Depends(stream_viewer)]


def get_scope(session: SessionDep, ctx: CtxDep, user: CurrentUser) -> Scope:
    return scope_for(session, ctx, user)


ScopeDep = Annotated[Scope, Depends(get_scope)]
