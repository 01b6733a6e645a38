"""Who is calling: bearer tokens (OAuth2 password flow at ``/auth/token``) or API keys, and role checks.

Writes always need a role; reads are public unless ``FORESTMON_PUBLIC_READS=false``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer

from api.users import User, user_for_secret
from geo.errors import AuthenticationError, ForbiddenError

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="auth/token", auto_error=False,
                                     description="a token from POST /auth/token, or an API key")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key for scripts")


def optional_user(request: Request, token: Annotated[str | None, Depends(oauth2_scheme)] = None,
                  api_key: Annotated[str | None, Depends(api_key_scheme)] = None) -> User | None:
    """The authenticated user, or None without credentials; wrong credentials are a 401 all the same."""
    secret = api_key or token
    if not secret:
        return None
    return user_for_secret(request.app.state.store, secret)


def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise AuthenticationError("log in first: send a bearer token (POST /auth/token) or an X-API-Key header")
    return user


def require_roles(*roles: str):
    """A dependency that lets through only the given roles (403 for the others, 401 without credentials)."""

    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in roles:
            raise ForbiddenError(f"role {user.role!r} may not do this; needs one of: {', '.join(roles)}")
        return user

    return check


def read_access(request: Request, user: Annotated[User | None, Depends(optional_user)]) -> User | None:
    """Reads are public when the settings say so; otherwise any logged-in user may read."""
    if user is None and not request.app.state.settings.public_reads:
        raise AuthenticationError("reads need a login on this server: send a bearer token or an X-API-Key")
    request.state.role = user.role if user else None  # collections and fields shown depend on it
    return user


CurrentUser = Annotated[User, Depends(current_user)]
Reader = Annotated[User | None, Depends(read_access)]
Admin = Annotated[User, Depends(require_roles("admin"))]
Reviewer = Annotated[User, Depends(require_roles("admin", "ranger"))]
Planner = Annotated[User, Depends(require_roles("admin", "planner"))]
