from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Response, status

from api.accounts import service
from api.accounts.schemas import StaffCreate, TokenOut, UserOut
from api.accounts.tables import Role
from api.deps import ClientAddress, CtxDep, CurrentUser, Operator, SessionDep, oauth2
from api.organisations import service as organisations
from api.pagination import Page, PagerDep
from api.public_ids import USER, UserPath, encode

router = APIRouter(tags=["accounts"])


@router.post("/auth/token", response_model=TokenOut, summary="Log in with user name and password")
def log_in(
    session: SessionDep,
    ctx: CtxDep,
    _address: ClientAddress,
    username: Annotated[str, Form(min_length=1, max_length=254)],
    password: Annotated[str, Form(min_length=1, max_length=256)],
) -> TokenOut:
    """OAuth2 password flow (form fields ``username`` and ``password``)."""
    signed_in = service.sign_in(session, ctx, username, password)
    who = signed_in.principal
    return TokenOut(
        access_token=signed_in.token, expires_at=signed_in.expires_at, role=who.role, user_id=who.id
    )


@router.post(
    "/auth/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke the current token"
)
def log_out(
    session: SessionDep,
    ctx: CtxDep,
    _user: CurrentUser,
    token: Annotated[str | None, Depends(oauth2)],
) -> None:
    if token:
        service.revoke_token(session, ctx, token)


@router.get("/me", response_model=UserOut, summary="The account behind the token")
def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.post(
    "/users",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    summary="Open an operator, clinician, CDC officer or data scientist account",
)
def create_staff(
    session: SessionDep, operator: Operator, body: StaffCreate, response: Response
) -> UserOut:
    user = organisations.open_staff_account(session, operator, body)
    response.headers["Location"] = f"/api/users/{encode(USER, user.id)}"
    return UserOut.model_validate(user)


@router.get("/users/{user_id}", response_model=UserOut, summary="One account")
def get_user(session: SessionDep, _operator: Operator, user_id: UserPath) -> UserOut:
    return UserOut.model_validate(service.get_account(session, user_id))


@router.get("/users", response_model=Page[UserOut], summary="List accounts")
def list_users(
    session: SessionDep, _operator: Operator, page: PagerDep, role: Role | None = None
) -> Page[UserOut]:
    return page.page(service.list_accounts(session, role, page.window), lambda u: (u.id,))
