"""Log in (OAuth2 password flow), who am I, API keys, and user administration (admin only)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from api import users
from api.auth import Admin, CurrentUser
from api.deps import SettingsDep, StoreDep

router = APIRouter(tags=["users"])
UsernamePath = Annotated[str, Path(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]+$")]


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds")


class UserOut(BaseModel):
    username: str
    role: str
    units: list[str]
    display_name: str | None
    disabled: bool


class NewUser(BaseModel):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]+$")
    password: str = Field(min_length=users.MIN_PASSWORD, max_length=256)
    role: Literal["admin", "ranger", "planner", "viewer"]
    units: list[Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[^,]+$")]] = Field(
        default=[], max_length=100, description="admin unit ids (2024 districts) a ranger covers")
    display_name: str | None = Field(default=None, max_length=200)


class NewApiKey(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="what the key is for")


class ApiKey(BaseModel):
    api_key: str = Field(description="shown once: send it as the X-API-Key header")
    name: str


@router.post("/auth/token", response_model=Token, summary="Log in: a bearer token for username and password",
             responses={401: {"description": "wrong username or password"},
                        429: {"description": "too many failed logins for the account or address (Retry-After)"}})
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, store: StoreDep,
          settings: SettingsDep) -> Token:
    address = request.client.host if request.client else None
    user = users.authenticate(store, form.username, form.password, address)
    token = users.issue_token(store, user, settings.token_minutes)
    return Token(access_token=token, expires_in=settings.token_minutes * 60)


@router.get("/me", response_model=UserOut, summary="The logged-in user")
def me(user: CurrentUser) -> dict:
    return user.as_dict()


@router.post("/me/api-keys", response_model=ApiKey, status_code=201, summary="A new API key for scripts")
def new_api_key(body: NewApiKey, user: CurrentUser, store: StoreDep) -> ApiKey:
    return ApiKey(api_key=users.create_api_key(store, user.username, body.name), name=body.name)


@router.get("/users", response_model=list[UserOut], summary="All users (admin)")
def list_users(_: Admin, store: StoreDep) -> list[dict]:
    return [u.as_dict() for u in users.list_users(store)]


@router.post("/users", response_model=UserOut, status_code=201, summary="Add a user (admin)",
             responses={409: {"description": "the username exists"}})
def add_user(body: NewUser, _: Admin, store: StoreDep) -> dict:
    return users.add_user(store, body.username, body.password, body.role, body.units, body.display_name).as_dict()


@router.post("/users/{username}/disable", response_model=UserOut, summary="Disable a user and revoke their keys")
def disable_user(username: UsernamePath, _: Admin, store: StoreDep) -> dict:
    return users.set_disabled(store, username, True).as_dict()
