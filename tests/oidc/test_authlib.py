"""The OpenID Connect provider from a second stock relying-party library: authlib.

    python tests/oidc/test_authlib.py [-k PATTERN]... [-f]

Started by scripts/browser-test (after the openid-client suite, against the same server
and clients) with the pinned authlib in target/oidc-venv. Covered here: client
credentials (client_secret_basic, client_secret_post, private_key_jwt), the
authorization-code flow with PKCE (the user-agent part done with `requests` on the
hosted sign-in form, the token part with authlib's OAuth2Session), refresh-token
rotation and reuse detection, introspection (RFC 7662) and revocation (RFC 7009).

Environment:
  AEGIS_OIDC_ISSUER    http://localhost:PORT
  AEGIS_OIDC_CLIENTS   JSON {key: {client_id, client_secret?, redirect_uri, ...}}; used:
                       pyweb (code + refresh), pyservice (client_credentials),
                       pyjwt (private_key_jwt, client_credentials)
  AEGIS_OIDC_JWT_KEY   PEM file of pyjwt's RSA private key (its JWKS was registered)
  AEGIS_OIDC_JWT_KID   that key's kid
  AEGIS_BROWSER_USERS  JSON {name: {email, password}}; used: pycode, pyrefresh, pyrevoke
  AEGIS_OIDC_SUMMARY   optional: a file for the one-line summary
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
import time
import unittest
from html.parser import HTMLParser
from typing import Any, Optional
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import KeySet

TIMEOUT = 15


def env(name: str) -> str:
    v = os.environ.get(name)
    if not v:
        raise SystemExit(f"{name} is not set: run the suite with scripts/browser-test")
    return v


ISSUER = env("AEGIS_OIDC_ISSUER")
CLIENTS: dict[str, dict[str, str]] = json.loads(env("AEGIS_OIDC_CLIENTS"))
USERS: dict[str, dict[str, str]] = json.loads(env("AEGIS_BROWSER_USERS"))
JWT_KEY_FILE = env("AEGIS_OIDC_JWT_KEY")
JWT_KID = env("AEGIS_OIDC_JWT_KID")
ALGS = ["RS256", "ES256", "EdDSA"]

_discovery: Optional[dict[str, Any]] = None


def discovery() -> dict[str, Any]:
    global _discovery
    if _discovery is None:
        r = requests.get(f"{ISSUER}/.well-known/openid-configuration", timeout=TIMEOUT)
        r.raise_for_status()
        _discovery = r.json()
        assert _discovery["issuer"] == ISSUER, _discovery["issuer"]
    return _discovery


def keyset() -> KeySet:
    r = requests.get(discovery()["jwks_uri"], timeout=TIMEOUT)
    r.raise_for_status()
    return KeySet.import_key_set(r.json())


def verify_jwt(token: str) -> dict[str, Any]:
    """A JWT of the provider, its signature checked with the JWKS: its claims."""
    return jwt.decode(token, keyset(), algorithms=ALGS).claims


def jwt_header(token: str) -> dict[str, Any]:
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def session(key: str, auth: str = "client_secret_basic", **kwargs: Any) -> OAuth2Session:
    c = CLIENTS[key]
    return OAuth2Session(
        c["client_id"],
        c.get("client_secret"),
        token_endpoint_auth_method=auth,
        redirect_uri=c["redirect_uri"],
        default_timeout=TIMEOUT,
        **kwargs,
    )


class _Form(HTMLParser):
    """The action and fields of one <form id=…> of a page."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.found = False
        self.action: Optional[str] = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self.inside = self.found = True
            self.action = a.get("action") or ""
        elif tag == "input" and self.inside and a.get("name"):
            if a.get("type") in ("submit", "button", "checkbox", "radio") and "checked" not in a:
                return
            self.fields[a["name"] or ""] = a.get("value") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False


def user_agent(url: str, redirect_uri: str, user: str, ua: Optional[requests.Session] = None) -> str:
    """Plays the browser with `requests`: follows the authorization request to the
    hosted sign-in page, posts its form (CSRF field and cookie included), follows the
    redirects and returns the URL that would reach the client's redirect URI."""
    ua = ua or requests.Session()
    me = USERS[user]
    resp = ua.get(url, allow_redirects=False, timeout=TIMEOUT)
    for _ in range(12):
        if resp.status_code in (301, 302, 303, 307, 308):
            location = urljoin(resp.url, resp.headers["location"])
            if location.startswith(redirect_uri):
                return location
            resp = ua.get(location, allow_redirects=False, timeout=TIMEOUT)
            continue
        if resp.status_code == 200 and 'id="login-form"' in resp.text:
            form = _Form("login-form")
            form.feed(resp.text)
            assert form.found and "csrf" in form.fields, "the sign-in form has a CSRF field"
            assert any(c.name == "aegis_csrf" for c in ua.cookies), "the CSRF cookie is set"
            form.fields.update(identifier=me["email"], password=me["password"])
            resp = ua.post(
                urljoin(resp.url, form.action or resp.url),
                data=form.fields,
                allow_redirects=False,
                timeout=TIMEOUT,
            )
            continue
        raise AssertionError(f"unexpected answer {resp.status_code} at {resp.url}: {resp.text[:400]}")
    raise AssertionError("too many redirects")


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def oauth_error(fn: Any, *args: Any, **kwargs: Any) -> str:
    """Calls an authlib method that must fail with an OAuth error; returns its code."""
    try:
        fn(*args, **kwargs)
    except OAuthError as e:
        return e.error
    raise AssertionError(f"{getattr(fn, '__name__', fn)}: expected an OAuth error")


class Base(unittest.TestCase):
    d: dict[str, Any]

    @classmethod
    def setUpClass(cls) -> None:
        cls.d = discovery()

    def code_flow(self, key: str, user: str, scope: str = "openid offline_access") -> tuple[OAuth2Session, dict]:
        """The authorization-code flow with PKCE and a nonce; returns the session and
        its token (ID token checked)."""
        c = CLIENTS[key]
        s = session(key, scope=scope, code_challenge_method="S256")
        verifier = generate_token(64)
        nonce = generate_token(24)
        url, state = s.create_authorization_url(self.d["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
        self.assertIn("code_challenge=", url)
        callback = user_agent(url, c["redirect_uri"], user)
        params = query(callback)
        self.assertEqual(params.get("iss"), ISSUER, callback)
        self.assertEqual(params.get("state"), state)
        self.assertIn("code", params, callback)
        token = s.fetch_token(
            self.d["token_endpoint"], authorization_response=callback, state=state, code_verifier=verifier
        )
        self.assertEqual(token["token_type"].lower(), "bearer")
        claims = verify_jwt(token["id_token"])
        self.assertEqual(claims["iss"], ISSUER)
        aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        self.assertIn(c["client_id"], aud)
        self.assertEqual(claims["nonce"], nonce)
        self.assertGreater(claims["exp"], time.time())
        self.assertNotEqual(jwt_header(token["id_token"])["alg"].lower(), "none")
        return s, token

    def introspect(self, key: str, tok: str, auth: str = "client_secret_basic") -> dict[str, Any]:
        r = session(key, auth).introspect_token(self.d["introspection_endpoint"], token=tok)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"))
        return r.json()

    def userinfo_status(self, access_token: str) -> int:
        r = requests.get(
            self.d["userinfo_endpoint"], headers={"authorization": f"Bearer {access_token}"}, timeout=TIMEOUT
        )
        return r.status_code


class ClientCredentials(Base):
    def test_basic_and_post(self) -> None:
        cid = CLIENTS["pyservice"]["client_id"]
        for auth in ("client_secret_basic", "client_secret_post"):
            with self.subTest(auth=auth):
                s = session("pyservice", auth)
                token = s.fetch_token(self.d["token_endpoint"], grant_type="client_credentials")
                self.assertEqual(token["token_type"].lower(), "bearer")
                self.assertGreater(token["expires_in"], 0)
                self.assertNotIn("refresh_token", token, "no refresh token for client credentials")
                self.assertNotIn("id_token", token, "no ID token without a user")
                claims = verify_jwt(token["access_token"])
                self.assertEqual(claims["sub"], cid, "sub is the client")
                self.assertEqual(claims["iss"], ISSUER)
                info = self.introspect("pyservice", token["access_token"], auth)
                self.assertIs(info["active"], True, info)
                self.assertEqual(info["sub"], cid)
                self.assertEqual(info["client_id"], cid)
                self.assertIsInstance(info["exp"], int)

    def test_wrong_secret(self) -> None:
        for auth in ("client_secret_basic", "client_secret_post"):
            with self.subTest(auth=auth):
                c = CLIENTS["pyservice"]
                s = OAuth2Session(c["client_id"], "wrong-" + secrets.token_urlsafe(16),
                                  token_endpoint_auth_method=auth, default_timeout=TIMEOUT)
                code = oauth_error(s.fetch_token, self.d["token_endpoint"], grant_type="client_credentials")
                self.assertEqual(code, "invalid_client")
        # the HTTP status too: 401
        r = requests.post(
            self.d["token_endpoint"],
            data={"grant_type": "client_credentials"},
            auth=(CLIENTS["pyservice"]["client_id"], "wrong"),
            timeout=TIMEOUT,
        )
        self.assertEqual(r.status_code, 401, r.text)
        self.assertEqual(r.json()["error"], "invalid_client")

    def test_grant_not_allowed_for_client(self) -> None:
        # pyweb is registered for authorization_code + refresh_token only
        code = oauth_error(session("pyweb").fetch_token, self.d["token_endpoint"], grant_type="client_credentials")
        self.assertEqual(code, "unauthorized_client")

    def test_private_key_jwt(self) -> None:
        c = CLIENTS["pyjwt"]
        with open(JWT_KEY_FILE) as f:
            pem = f.read()
        token_endpoint = self.d["token_endpoint"]
        s = OAuth2Session(c["client_id"], pem, token_endpoint_auth_method="private_key_jwt", default_timeout=TIMEOUT)
        s.register_client_auth_method(PrivateKeyJWT(token_endpoint, headers={"kid": JWT_KID}))
        token = s.fetch_token(token_endpoint, grant_type="client_credentials")
        self.assertEqual(verify_jwt(token["access_token"])["sub"], c["client_id"])
        # and again: every assertion has its own jti
        token2 = s.fetch_token(token_endpoint, grant_type="client_credentials")
        self.assertNotEqual(token2["access_token"], token["access_token"])

        # a key the client did not register
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        other_pem = other.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        bad = OAuth2Session(c["client_id"], other_pem, token_endpoint_auth_method="private_key_jwt", default_timeout=TIMEOUT)
        bad.register_client_auth_method(PrivateKeyJWT(token_endpoint, headers={"kid": JWT_KID}))
        self.assertEqual(oauth_error(bad.fetch_token, token_endpoint, grant_type="client_credentials"), "invalid_client")


class CodeFlow(Base):
    def test_code_flow_and_introspection(self) -> None:
        s, token = self.code_flow("pyweb", "pycode", scope="openid email offline_access")
        cid = CLIENTS["pyweb"]["client_id"]
        sub = verify_jwt(token["id_token"])["sub"]
        self.assertIn("refresh_token", token, "offline_access: a refresh token")

        # userinfo with the access token (authlib's session sends the bearer)
        r = s.get(self.d["userinfo_endpoint"], timeout=TIMEOUT)
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(r.json()["sub"], sub)
        self.assertEqual(r.json()["email"], USERS["pycode"]["email"])

        info = self.introspect("pyweb", token["access_token"])
        self.assertIs(info["active"], True, info)
        self.assertEqual(info["sub"], sub)
        self.assertEqual(info["client_id"], cid)
        self.assertIn("openid", info["scope"].split())
        self.assertIsInstance(info["exp"], int)
        self.assertGreater(info["exp"], time.time())
        # the refresh token too, with client_secret_post this time
        rinfo = self.introspect("pyweb", token["refresh_token"], "client_secret_post")
        self.assertIs(rinfo["active"], True, rinfo)
        self.assertEqual(rinfo["client_id"], cid)

        # inactive: garbage, and another client's token
        self.assertEqual(self.introspect("pyweb", "not-a-token-" + secrets.token_urlsafe(8)), {"active": False})
        other = session("pyservice").fetch_token(self.d["token_endpoint"], grant_type="client_credentials")
        self.assertEqual(self.introspect("pyweb", other["access_token"]), {"active": False})
        # a client must authenticate to introspect
        r = requests.post(self.d["introspection_endpoint"], data={"token": token["access_token"]}, timeout=TIMEOUT)
        self.assertEqual(r.status_code, 401, r.text)

    def test_refresh_rotation_and_reuse(self) -> None:
        s, token = self.code_flow("pyweb", "pyrefresh")
        old = token["refresh_token"]
        new = s.refresh_token(self.d["token_endpoint"], refresh_token=old)
        self.assertNotEqual(new["refresh_token"], old, "the refresh token rotates")
        self.assertNotEqual(new["access_token"], token["access_token"])
        self.assertEqual(self.userinfo_status(new["access_token"]), 200)
        if "id_token" in new:
            claims = verify_jwt(new["id_token"])
            self.assertEqual(claims["sub"], verify_jwt(token["id_token"])["sub"])

        # the old one again: refused, and the whole family with it
        self.assertEqual(oauth_error(s.refresh_token, self.d["token_endpoint"], refresh_token=old), "invalid_grant")
        self.assertEqual(
            oauth_error(s.refresh_token, self.d["token_endpoint"], refresh_token=new["refresh_token"]),
            "invalid_grant",
            "reuse revoked the newer refresh token too",
        )
        self.assertEqual(self.introspect("pyweb", new["access_token"]), {"active": False})


    def test_revocation(self) -> None:
        s, token = self.code_flow("pyweb", "pyrevoke")
        self.assertEqual(self.userinfo_status(token["access_token"]), 200)

        # unknown tokens: 200 all the same (RFC 7009 §2.2)
        r = s.revoke_token(self.d["revocation_endpoint"], token="nothing-" + secrets.token_urlsafe(8))
        self.assertEqual(r.status_code, 200, r.text)

        r = s.revoke_token(self.d["revocation_endpoint"], token=token["refresh_token"], token_type_hint="refresh_token")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.introspect("pyweb", token["refresh_token"]), {"active": False})
        self.assertEqual(self.introspect("pyweb", token["access_token"]), {"active": False},
                         "revoking the refresh token ended its session")
        self.assertEqual(self.userinfo_status(token["access_token"]), 401)
        self.assertEqual(
            oauth_error(s.refresh_token, self.d["token_endpoint"], refresh_token=token["refresh_token"]),
            "invalid_grant",
        )

        # an access token alone
        s2, token2 = self.code_flow("pyweb", "pyrevoke", scope="openid")
        r = s2.revoke_token(self.d["revocation_endpoint"], token=token2["access_token"], token_type_hint="access_token")
        self.assertEqual(r.status_code, 200, r.text)
        self.assertEqual(self.introspect("pyweb", token2["access_token"]), {"active": False})
        self.assertEqual(self.userinfo_status(token2["access_token"]), 401)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-k", action="append", dest="patterns", help="only tests matching this substring")
    ap.add_argument("-f", "--failfast", action="store_true")
    args = ap.parse_args()
    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [f"*{p}*" for p in args.patterns]
    suite = loader.loadTestsFromModule(sys.modules[__name__])
    started = time.monotonic()
    res = unittest.TextTestRunner(verbosity=2, failfast=args.failfast, stream=sys.stdout).run(suite)
    failing: list[str] = []
    for t, _ in res.failures + res.errors:
        name = getattr(t, "test_case", t).id().split(".", 1)[-1]
        if name not in failing:
            failing.append(name)
    passed = res.testsRun - len(failing) - len(res.skipped)
    parts = [f"{passed} passed"] + ([f"{len(failing)} failed"] if failing else [])
    line = ", ".join(parts) + f" in {time.monotonic() - started:.1f}s"
    if failing:
        line += " — failing: " + " ".join(failing)
    if res.testsRun == 0:
        line = "no tests ran"
    summary = os.environ.get("AEGIS_OIDC_SUMMARY")
    if summary:
        with open(summary, "w") as f:
            f.write(line + "\n")
    print(line)
    return 0 if res.wasSuccessful() and res.testsRun else 1


if __name__ == "__main__":
    sys.exit(main())
