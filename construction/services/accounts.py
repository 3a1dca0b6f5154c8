"""Organizations, users and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, delete, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from construction.errors import ApiProblem
from construction.extensions import db
from construction.models import (
    ApiToken,
    Organization,
    OrganizationKind,
    Role,
    SignInFailure,
    User,
)
from construction.permissions import Principal, principal_from
from construction.services import audit
from construction.text_input import check_text

MIN_PASSWORD_LENGTH = 10
# Checked against when the name is unknown, so a wrong name costs as long as a
# wrong password and does not tell which names exist.
_NOBODY_HASH = generate_password_hash("no-such-user-" + secrets.token_hex(8))

TOKEN_PREFIX = "pt_"
REGION_CODE = re.compile(r"[0-9]{2,12}")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_organization(name: str, kind: str, region_code: str) -> Organization:
    """Create an organization."""
    check_text(name, "the name")
    if not REGION_CODE.fullmatch(region_code):
        raise ValueError("a region code is an administrative division code of 2 to 12 digits")
    organization = Organization(name=name, kind=OrganizationKind(kind), region_code=region_code)
    db.session.add(organization)
    db.session.commit()
    return organization


def create_user(name: str, organization_id: int, role: str) -> User:
    """Create a user in an organization with one role."""
    check_text(name, "the name")
    role_value = Role(role)
    organization = db.session.get(Organization, organization_id)
    if organization is None:
        raise LookupError(f"no organization {organization_id}")
    if role_value is Role.regulator and organization.kind is not OrganizationKind.regulator:
        raise ValueError("the regulator role belongs to a regulator organization")
    user = User(name=name, organization_id=organization_id, role=role_value)
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", _user_subject(user),
                 detail={"organization_id": organization_id, "role": role_value.value})
    db.session.commit()
    return user


def _user_subject(user: User) -> str:
    return f"user {user.id} ({user.name})"


# Stands for "as long as TOKEN_DEFAULT_DAYS says" (None already means "never expires").
DEFAULT_LIFETIME = object()


def issue_token(user_id: int, name: str = "", days=DEFAULT_LIFETIME) -> tuple[ApiToken, str]:
    """Create a token for a user; return the record and the secret (shown once).

    Without `days` the token lives TOKEN_DEFAULT_DAYS; `days=None` makes a token
    that never expires.
    """
    if days is DEFAULT_LIFETIME:
        days = current_app.config["TOKEN_DEFAULT_DAYS"]
    check_text(name, "the token name")
    if days is not None and days < 1:
        raise ValueError("a token lives at least one day")
    user = db.session.get(User, user_id)
    if user is None:
        raise LookupError(f"no user {user_id}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires = None if days is None else datetime.now(UTC) + timedelta(days=days)
    token = ApiToken(user_id=user_id, token_hash=hash_token(secret), prefix=secret[:10],
                     name=name, expires_at=expires)
    db.session.add(token)
    db.session.flush()
    audit.record("token.create", f"token {token.id} of {_user_subject(user)}",
                 detail={"user_id": user_id, "name": name, "prefix": token.prefix,
                         "expires_at": expires})
    db.session.commit()
    return token, secret


def revoke_token(token_id: int) -> ApiToken:
    """Revoke a token now."""
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise LookupError(f"no token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = datetime.now(UTC)
        audit.record("token.revoke", f"token {token.id} of user {token.user_id}",
                     detail={"user_id": token.user_id, "prefix": token.prefix})
        db.session.commit()
    forget_tokens()
    return token


_token, _user, _organization = (ApiToken.__table__, User.__table__,
                                 Organization.__table__)
# A user with their organization, as one row. Built once: every API request runs it.
_PRINCIPAL_COLUMNS = (_user.c.id, _user.c.name, _user.c.role, _user.c.active,
                      _organization.c.id.label("organization_id"), _organization.c.kind,
                      _organization.c.region_code)
_PRINCIPAL_BY_TOKEN = (
    select(_token.c.expires_at, _token.c.revoked_at, *_PRINCIPAL_COLUMNS)
    .join(_user, _token.c.user_id == _user.c.id)
    .join(_organization, _user.c.organization_id == _organization.c.id)
    .where(_token.c.token_hash == bindparam("token_hash"))
)
_SIGN_IN = (select(_user.c.password_hash, _user.c.session_generation, *_PRINCIPAL_COLUMNS)
            .join(_organization, _user.c.organization_id == _organization.c.id))
_SIGN_IN_BY_ID = _SIGN_IN.where(_user.c.id == bindparam("user_id"))
_SIGN_IN_BY_NAME = _SIGN_IN.where(_user.c.name == bindparam("name"))


def principal_of_user(user_id: int) -> Principal | None:
    """Return the principal of an active user, or None."""
    row = db.session.connection().execute(_SIGN_IN_BY_ID, {"user_id": user_id}).first()
    return principal_from(row) if row is not None and row.active else None


def acting_principal(name: str | None = None) -> Principal:
    """Return the principal commands act as: the active user named, else the first admin."""
    query = select(User.id).where(User.active.is_(True))
    query = query.where(User.name == name) if name else \
        query.where(User.role == Role.admin).order_by(User.id)
    user_id = db.session.scalars(query.limit(1)).first()
    if user_id is None:
        raise ApiProblem("not-found", f"no active user named {name!r}" if name else
                         "no active admin user: pass --user NAME")
    return principal_of_user(user_id)


def directory() -> list[tuple[Organization, list[tuple[User, list[ApiToken]]]]]:
    """List every organization with its users and their tokens, in order of creation."""
    tokens: dict[int, list[ApiToken]] = {}
    for token in db.session.scalars(select(ApiToken).order_by(ApiToken.id)):
        tokens.setdefault(token.user_id, []).append(token)
    users: dict[int, list[tuple[User, list[ApiToken]]]] = {}
    for user in db.session.scalars(select(User).order_by(User.id)):
        users.setdefault(user.organization_id, []).append((user, tokens.get(user.id, [])))
    return [(organization, users.get(organization.id, []))
            for organization in db.session.scalars(select(Organization).order_by(
                Organization.id))]


# token hash -> (monotonic deadline, principal, token expiry): a phone scanning
# all day sends the same token hundreds of times a minute.
_recent: dict[tuple[str, str], tuple[float, Principal, datetime | None]] = {}
_RECENT_MAX = 10_000


def forget_tokens() -> None:
    """Drop remembered tokens (after a revocation in this process)."""
    _recent.clear()


def principal_for_token(secret: str) -> Principal | None:
    """Return the principal a live token stands for, or None.

    A live token is remembered for TOKEN_CACHE_SECONDS, so a revocation made
    by another process takes effect within that time (0 turns this off).
    """
    token_hash = hash_token(secret)
    ttl = current_app.config["TOKEN_CACHE_SECONDS"]
    key = (current_app.config["SQLALCHEMY_DATABASE_URI"], token_hash)
    if ttl > 0:
        remembered = _recent.get(key)
        now = datetime.now(UTC)
        if remembered is not None and remembered[0] > time.monotonic() and (
                remembered[2] is None or remembered[2] > now):
            return remembered[1]
    row = db.session.connection().execute(_PRINCIPAL_BY_TOKEN, {"token_hash": token_hash}).first()
    if row is None:
        return None
    if row.revoked_at is not None or not row.active:
        return None
    if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
        return None
    principal = principal_from(row)
    if ttl > 0:
        if len(_recent) >= _RECENT_MAX:
            _recent.clear()
        _recent[key] = (time.monotonic() + ttl, principal, row.expires_at)
    return principal


def set_password(user_id: int, password: str) -> None:
    """Set the password a user signs in to the pages with (ends their page sessions)."""
    check_text(password, "the password")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    user = db.session.get(User, user_id)
    if user is None:
        raise LookupError(f"no user {user_id}")
    user.password_hash = generate_password_hash(password)
    audit.record("user.password", _user_subject(user))
    db.session.commit()


def password_stamp(row) -> str:
    """Return what a session remembers of the password and sign-outs it was opened with."""
    seen = f"{row.password_hash}:{row.session_generation or 0}"
    return hashlib.sha256(seen.encode()).hexdigest()[:24]


def check_sign_in(name: str, password: str) -> tuple[Principal, str] | None:
    """Return the principal and session stamp for a right name and password, else None."""
    row = db.session.connection().execute(_SIGN_IN_BY_NAME, {"name": name}).first()
    stored = row.password_hash if row is not None else None
    # An unknown name or a user without a password costs the same hash check.
    if not check_password_hash(stored or _NOBODY_HASH, password) or stored is None:
        return None
    if not row.active:
        return None
    return principal_from(row), password_stamp(row)


def principal_for_session(user_id: int, stamp: str) -> Principal | None:
    """Return the principal of a page session, or None once the user or password changed."""
    row = db.session.connection().execute(_SIGN_IN_BY_ID, {"user_id": user_id}).first()
    if row is None or not row.active or not row.password_hash:
        return None
    if not secrets.compare_digest(password_stamp(row), stamp):
        return None
    return principal_from(row)


def set_active(user_id: int, active: bool) -> User:
    """Deactivate a user (every token and page session stops at once) or activate again."""
    user = db.session.get(User, user_id)
    if user is None:
        raise LookupError(f"no user {user_id}")
    if user.active != active:
        audit.record("user.activate" if active else "user.deactivate", _user_subject(user))
    user.active = active
    if not active:
        user.session_generation = (user.session_generation or 0) + 1
    db.session.commit()
    forget_tokens()
    return user


def end_page_sessions(user_id: int) -> None:
    """End every page session of a user (signing out on one phone signs out all)."""
    user = db.session.get(User, user_id)
    if user is not None:
        user.session_generation = (user.session_generation or 0) + 1
        db.session.commit()


def sign_in_paused(name: str, remote_addr: str) -> bool:
    """Tell whether too many wrong passwords came lately for `name` from this address,
    from this address for any names, or for `name` from any addresses."""
    config = current_app.config
    since = datetime.now(UTC) - timedelta(minutes=config["SIGN_IN_PAUSE_MINUTES"])
    counted = select(func.count()).select_from(SignInFailure).where(SignInFailure.at > since)
    from_address = counted.where(SignInFailure.remote_addr == remote_addr[:64])
    for_name = counted.where(SignInFailure.user_name == name)
    # Guesses spread over many addresses still add up against the one name they try.
    for query, limit, what in (
            (from_address, config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"], "from this address"),
            (from_address.where(SignInFailure.user_name == name),
             config["SIGN_IN_MAX_FAILURES"], "for this name from this address"),
            (for_name, config["SIGN_IN_MAX_FAILURES_PER_NAME"], "for this name")):
        if db.session.scalar(query) >= limit:
            current_app.logger.warning("sign-in paused for %r from %s: %d wrong passwords %s "
                                       "in %d min", name, remote_addr, limit, what,
                                       config["SIGN_IN_PAUSE_MINUTES"])
            return True
    return False


def record_sign_in_failure(name: str, remote_addr: str) -> None:
    """Remember a wrong password, forgetting every one older than the pause."""
    now = datetime.now(UTC)
    since = now - timedelta(minutes=current_app.config["SIGN_IN_PAUSE_MINUTES"])
    db.session.execute(delete(SignInFailure).where(SignInFailure.at <= since))
    db.session.add(SignInFailure(user_name=name, remote_addr=remote_addr[:64], at=now))
    db.session.commit()
    current_app.logger.warning("wrong password for %r from %s", name, remote_addr)


def clear_sign_in_failures(name: str) -> None:
    """Forget the wrong passwords for `name` after a right one."""
    db.session.execute(delete(SignInFailure).where(SignInFailure.user_name == name))
    db.session.commit()
