"""Shared fixtures of the pangea-sdk compatibility suite.

The environment comes from scripts/sdk-test:
  AEGIS_URL             http://127.0.0.1:PORT of a fresh aegis
  AEGIS_ADMIN_TOKEN     API token of an admin
  AEGIS_VIEW_TOKEN      API token of a `view` user
  AEGIS_ADMIN_EMAIL     the admin's email (default admin@example.com)
  AEGIS_ADMIN_PASSWORD  the admin's password

Every HTTP exchange (the SDK's and ours) is recorded so that a failing test can
print exactly what was sent and received.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any, Iterator, Optional

import requests
from pangea import PangeaConfig
from pangea import exceptions as pe
from pangea.response import PangeaResponseResult
from pangea.services import AuthN
from pangea.services.authn import models as m

# The SDK logs every API error on the "pangea" logger; the tests check errors themselves.
logging.getLogger("pangea").addHandler(logging.NullHandler())
logging.getLogger("pangea").propagate = False

URL = os.environ.get("AEGIS_URL", "http://127.0.0.1:8080").rstrip("/")
ADMIN_TOKEN = os.environ.get("AEGIS_ADMIN_TOKEN", "")
VIEW_TOKEN = os.environ.get("AEGIS_VIEW_TOKEN", "")
ADMIN_EMAIL = os.environ.get("AEGIS_ADMIN_EMAIL", "admin@example.com")
ADMIN_PASSWORD = os.environ.get("AEGIS_ADMIN_PASSWORD", "")

# Lock-out threshold the script configures (AEGIS_THROTTLE_ACCOUNT_FAILURES).
ACCOUNT_FAILURES = 3

ID_RE = {
    "user": re.compile(r"^pui_[a-z2-7]{32}$"),
    "group": re.compile(r"^pgi_[a-z2-7]{32}$"),
    "authenticator": re.compile(r"^pau_[a-z2-7]{32}$"),
    "token": re.compile(r"^pmt_[a-z2-7]{32}$"),
    "request": re.compile(r"^prq_[a-z2-7]{32}$"),
}
# spec §3.2: RFC 3339, UTC, `Z`, microseconds
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
# spec §2.3: the HTTP code of each status (the SDK keys on `status` only; raw clients see these)
HTTP_OF_STATUS = {
    "ValidationError": 400, "Unauthorized": 401, "Forbidden": 403, "UserNotFound": 404, "UserExists": 409,
    "NotFound": 404, "MethodNotAllowed": 405, "InvalidToken": 400, "ExpiredToken": 400, "InvalidCode": 400,
    "AuthenticationFailure": 400, "DisabledUser": 403, "PayloadTooLarge": 413, "TooManyRequests": 429,
    "ServiceNotAvailable": 503, "InternalError": 500,
}
ENVELOPE_KEYS = {"request_id", "request_time", "response_time", "status", "summary", "result"}


# ---------------------------------------------------------------- HTTP capture
@dataclass
class Exchange:
    method: str
    url: str
    request_body: str
    status: int
    response_body: str

    def render(self) -> str:
        def short(s: str) -> str:
            return s if len(s) <= 4000 else s[:4000] + f"… ({len(s)} chars)"

        return (
            f"  > {self.method} {self.url}\n  > {short(self.request_body)}\n"
            f"  < HTTP {self.status}\n  < {short(self.response_body)}"
        )


EXCHANGES: "collections.deque[Exchange]" = collections.deque(maxlen=8)
_orig_send = requests.Session.send


def _recording_send(self, request, **kwargs):  # type: ignore[no-untyped-def]
    resp = _orig_send(self, request, **kwargs)
    body = request.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    EXCHANGES.append(Exchange(request.method, request.url, body or "", resp.status_code, resp.text))
    return resp


requests.Session.send = _recording_send  # type: ignore[method-assign]


def recent_exchanges(n: int = 4) -> str:
    items = list(EXCHANGES)[-n:]
    return "\n".join(e.render() for e in items) if items else "  (no HTTP exchange)"


# ---------------------------------------------------------------- clients
def config() -> PangeaConfig:
    # Exactly what a user of the SDK writes; nothing else is changed.
    return PangeaConfig(base_url_template=URL)


def client(token: str) -> AuthN:
    return AuthN(token, config=config())


def unique(tag: str) -> str:
    return f"{tag}{uuid.uuid4().hex[:12]}"


def unique_email(tag: str = "u") -> str:
    return f"{unique(tag)}@sdk.example.com"


def strong_password() -> str:
    return "Sdk+" + uuid.uuid4().hex[:16] + "!x"


def login(identifier: str, password: str) -> requests.Response:
    """aegis's Argon login (not a Pangea route): returns the raw response."""
    return requests.Session().post(
        f"{URL}/api/auth/login", json={"username": identifier, "password": password}, timeout=10
    )


def login_token(identifier: str, password: str) -> str:
    r = login(identifier, password)
    if r.status_code != 200:
        raise AssertionError(f"login of {identifier} failed: HTTP {r.status_code} {r.text}")
    return r.json()["token"]


def create_with_password(
    authn: AuthN, email: str, password: str, profile: Optional[dict[str, str]] = None, **extra: Any
):
    """POST /v2/user/create with the aegis `password` extension, through the SDK's
    generic transport (the typed `user.create` cannot send a password)."""
    data = {"email": email, "profile": profile or {}, "password": password, **extra}
    return authn.request.post("v2/user/create", m.UserCreateResult, data=data)


class Assertions:
    """Mixin for unittest.TestCase."""

    @contextlib.contextmanager
    def assertStatus(
        self, status: str, exc_type: type = pe.PangeaAPIException
    ) -> Iterator[list[pe.PangeaAPIException]]:
        holder: list[pe.PangeaAPIException] = []
        try:
            yield holder
        except pe.PangeaAPIException as e:
            holder.append(e)
            got = e.response.status
            if got != status:
                raise AssertionError(
                    f"expected status {status!r}, got {got!r} ({type(e).__name__}: {e.response.summary})"
                ) from e
            if not isinstance(e, exc_type):
                raise AssertionError(f"expected {exc_type.__name__}, SDK raised {type(e).__name__}") from e
            self.assertEnvelope(e.response, success=False)
            want_http = HTTP_OF_STATUS.get(status)
            if want_http is not None:
                self.assertEqual(e.response.http_status, want_http, f"HTTP code of status {status}")
            return
        raise AssertionError(f"expected the SDK to raise {exc_type.__name__} with status {status!r}; it did not")

    def assertEnvelope(self, resp, success: bool = True) -> None:
        raw = resp.json
        self.assertEqual(set(raw.keys()), ENVELOPE_KEYS, "envelope keys")
        self.assertRegex(resp.request_id, ID_RE["request"])
        self.assertRegex(resp.request_time, TIME_RE)
        self.assertRegex(resp.response_time, TIME_RE)
        self.assertTrue(resp.summary, "summary must be non-empty")
        self.assertEqual(resp.raw_response.headers.get("x-request-id"), resp.request_id)
        if success:
            self.assertEqual(resp.status, "Success")
            self.assertIsInstance(raw["result"], dict)
        elif resp.status == "ValidationError":
            self.assertIsInstance(raw["result"], dict)
            self.assertGreaterEqual(len(raw["result"].get("errors", [])), 1)
        else:
            self.assertIsNone(raw["result"], "error results are null except for ValidationError")

    def assertUserInfo(self, u: m.User) -> None:
        self.assertRegex(u.id, ID_RE["user"])
        self.assertRegex(u.created_at, TIME_RE)
        self.assertIsInstance(u.profile, dict)
        for a in u.authenticators:
            self.assertAuthenticator(a)
        extra = u.model_extra or {}
        self.assertIn("locked_out", extra, "user-info must carry locked_out (spec §3.4)")
        self.assertIn("groups", extra, "user-info must carry groups (spec §3.4)")
        for g in extra["groups"]:
            self.assertRegex(g, ID_RE["group"])
        if u.last_login_at is not None:
            self.assertRegex(u.last_login_at, TIME_RE)

    def assertAuthenticator(self, a: m.Authenticator) -> None:
        self.assertRegex(a.id, ID_RE["authenticator"])
        self.assertIn(a.type, {"email_otp", "magiclink", "password", "passkey", "sms_otp", "social", "saml", "totp"})
        self.assertRegex(a.created_at, TIME_RE)
        self.assertRegex(a.updated_at, TIME_RE)

    def assertValidationSources(self, exc: pe.PangeaAPIException, *sources: str) -> None:
        errs = exc.errors
        self.assertTrue(errs, "ValidationError must carry result.errors")
        for e in errs:
            self.assertTrue(e.code and e.detail, f"code/detail must be non-empty: {e}")
            self.assertTrue(e.source.startswith("/"), f"source must be a JSON pointer: {e.source!r}")
        got = [e.source for e in errs]
        for s in sources:
            self.assertIn(s, got, f"expected an error at {s}; got {json.dumps([str(e) for e in errs])}")


__all__ = [
    "ACCOUNT_FAILURES",
    "ADMIN_EMAIL",
    "ADMIN_PASSWORD",
    "ADMIN_TOKEN",
    "Assertions",
    "AuthN",
    "ENVELOPE_KEYS",
    "EXCHANGES",
    "ID_RE",
    "PangeaResponseResult",
    "TIME_RE",
    "URL",
    "VIEW_TOKEN",
    "client",
    "create_with_password",
    "login",
    "login_token",
    "m",
    "pe",
    "recent_exchanges",
    "strong_password",
    "unique",
    "unique_email",
]
