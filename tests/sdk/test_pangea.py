"""The official Python `pangea-sdk` (6.13.0) against aegis's `pangea` dialect.

Every typed SDK method that maps to an endpoint aegis serves is called here and
its parsed result objects are checked, which also proves the envelope and the
result shapes validate against the SDK's pydantic models. Spec references are
to shared/spec/pangea-authn.md.

Endpoints without a typed SDK method, or requests the SDK's request models
cannot express, go through the SDK's own generic transport
`authn.request.post(path, result_class, data=...)`:
  - `password` on /v2/user/create (aegis extension, spec §4.1);
  - a `null` value in /v2/user/profile/update (the SDK types `profile` as
    Mapping[str, str], so `profile.update({"k": None})` fails client-side);
  - unknown filter keys (the SDK's UserListFilter forbids extra keys).
"""

from __future__ import annotations

import datetime as dt
import unittest

import pydantic
import requests
import socket
import time
import urllib.parse

from sdkenv import (
    ACCOUNT_FAILURES,
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    ADMIN_TOKEN,
    ENVELOPE_KEYS,
    ID_RE,
    TIME_RE,
    URL,
    VIEW_TOKEN,
    Assertions,
    PangeaResponseResult,
    client,
    create_with_password,
    login,
    login_token,
    m,
    pe,
    strong_password,
    unique,
    unique_email,
)


class Base(Assertions, unittest.TestCase):
    maxDiff = None

    @classmethod
    def setUpClass(cls) -> None:
        if not ADMIN_TOKEN or not VIEW_TOKEN:
            raise unittest.SkipTest("AEGIS_ADMIN_TOKEN / AEGIS_VIEW_TOKEN are not set (run scripts/sdk-test)")
        cls.admin = client(ADMIN_TOKEN)
        cls.view = client(VIEW_TOKEN)
        cls.bad = client("pts_" + "a" * 32)

    # helpers
    def new_user(self, tag: str = "u", profile: dict[str, str] | None = None, **kw) -> m.UserCreateResult:
        resp = self.admin.user.create(unique_email(tag), profile or {}, **kw)
        self.assertEnvelope(resp)
        return resp.result

    def new_user_with_password(self, tag: str = "p", profile: dict[str, str] | None = None):
        email = unique_email(tag)
        password = strong_password()
        resp = create_with_password(self.admin, email, password, profile)
        self.assertEnvelope(resp)
        return resp.result, password

    def list_all(self, authn=None, **kw) -> tuple[list[m.User], list[m.UserListResult]]:
        """Walks every page of user.list with `last`."""
        authn = authn or self.admin
        users: list[m.User] = []
        pages: list[m.UserListResult] = []
        last = None
        for _ in range(1000):
            resp = authn.user.list(last=last, **kw)
            self.assertEnvelope(resp)
            page = resp.result
            pages.append(page)
            users.extend(page.users)
            if not page.last:
                return users, pages
            last = page.last
        self.fail("user.list paging did not end after 1000 pages")


def parse_time(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


# ============================================================ users (spec §4.1-4.9)
class UserTests(Base):
    def test_create_returns_user_info(self):
        email = unique_email("create")
        username = unique("name")
        resp = self.admin.user.create(email, {"first_name": "Joe", "last_name": "User"}, username=username)
        self.assertEnvelope(resp)
        self.assertIsInstance(resp.result, m.UserCreateResult)
        u = resp.result
        self.assertUserInfo(u)
        self.assertEqual(u.email, email)
        self.assertEqual(u.username, username)
        self.assertEqual(u.profile, {"first_name": "Joe", "last_name": "User"})
        self.assertFalse(u.verified)
        self.assertFalse(u.disabled)
        self.assertEqual(u.login_count, 0)
        self.assertEqual(u.authenticators, [])
        self.assertEqual(u.model_extra["groups"], [])
        self.assertFalse(u.model_extra["locked_out"])
        self.assertIsNone(u.last_login_at)

    def test_create_username_defaults_to_email(self):
        u = self.new_user("dflt")
        self.assertEqual(u.username, u.email)

    def test_create_duplicate_email_and_username(self):
        u = self.new_user("dup", username=unique("dupname"))
        with self.assertStatus("UserExists"):
            self.admin.user.create(u.email, {})
        with self.assertStatus("UserExists"):
            self.admin.user.create(u.email.upper(), {})  # normalised email
        with self.assertStatus("UserExists"):
            self.admin.user.create(unique_email("dup2"), {}, username=u.username)

    def test_create_validation_error(self):
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.user.create("not-an-email", {})
        self.assertValidationSources(h[0], "/email")

    def test_create_with_password_extension(self):
        u, password = self.new_user_with_password("pw", {"first_name": "Pat"})
        self.assertUserInfo(u)
        self.assertEqual(len(u.authenticators), 1)
        self.assertEqual(u.authenticators[0].type, "password")
        self.assertTrue(u.authenticators[0].enabled)
        self.assertTrue(login_token(u.email, password))

    def test_delete_by_email_id_username(self):
        for selector in ("email", "id", "username"):
            with self.subTest(selector=selector):
                u = self.new_user("del", username=unique("delname"))
                resp = self.admin.user.delete(**{selector: getattr(u, selector)})
                self.assertEnvelope(resp)
                self.assertIsInstance(resp.result, m.UserDeleteResult)
                with self.assertStatus("UserNotFound"):
                    self.admin.user.profile.get(id=u.id)
                with self.assertStatus("UserNotFound"):
                    self.admin.user.delete(**{selector: getattr(u, selector)})

    def test_delete_kills_sessions(self):
        u, password = self.new_user_with_password("delsess")
        token = login_token(u.email, password)
        self.assertEnvelope(self.admin.client.token_endpoints.check(token))
        self.admin.user.delete(id=u.id)
        with self.assertStatus("InvalidToken"):
            self.admin.client.token_endpoints.check(token)

    def test_profile_get_by_each_selector(self):
        u = self.new_user("get", {"first_name": "Ann"}, username=unique("getname"))
        for kw in ({"id": u.id}, {"email": u.email}, {"username": u.username}, {"email": u.email.upper()},
                   {"id": u.id, "email": u.email}):
            with self.subTest(**kw):
                resp = self.admin.user.profile.get(**kw)
                self.assertEnvelope(resp)
                self.assertIsInstance(resp.result, m.UserProfileGetResult)
                self.assertUserInfo(resp.result)
                self.assertEqual(resp.result.id, u.id)
                self.assertEqual(resp.result.profile, {"first_name": "Ann"})

    def test_profile_get_mismatched_selectors(self):
        a = self.new_user("mis")
        b = self.new_user("mis")
        with self.assertStatus("UserNotFound"):
            self.admin.user.profile.get(id=a.id, email=b.email)

    def test_profile_update_merges(self):
        u = self.new_user("prof", {"first_name": "Joe", "last_name": "User"})
        resp = self.admin.user.profile.update({"phone": "+18085550173"}, id=u.id)
        self.assertEnvelope(resp)
        self.assertIsInstance(resp.result, m.UserProfileUpdateResult)
        self.assertUserInfo(resp.result)
        self.assertEqual(resp.result.profile, {"first_name": "Joe", "last_name": "User", "phone": "+18085550173"})

        resp = self.admin.user.profile.update({"first_name": "Jo"}, email=u.email)
        self.assertEqual(resp.result.profile, {"first_name": "Jo", "last_name": "User", "phone": "+18085550173"})

        resp = self.admin.user.profile.update({"nick": "jj"}, username=u.username)
        self.assertEqual(resp.result.profile["nick"], "jj")
        self.assertEqual(self.admin.user.profile.get(id=u.id).result.profile, resp.result.profile)

    def test_profile_update_null_deletes_key(self):
        u = self.new_user("pnull", {"first_name": "Joe", "last_name": "User"})
        # The SDK's typed method refuses None values (profile: Mapping[str, str]):
        with self.assertRaises(pydantic.ValidationError):
            self.admin.user.profile.update({"last_name": None}, id=u.id)  # type: ignore[dict-item]
        # ...so the generic transport sends the `null` (spec §4.5).
        resp = self.admin.request.post(
            "v2/user/profile/update", m.UserProfileUpdateResult,
            data={"id": u.id, "profile": {"last_name": None, "absent": None, "city": "Oslo"}},
        )
        self.assertEnvelope(resp)
        self.assertEqual(resp.result.profile, {"first_name": "Joe", "city": "Oslo"})

    def test_profile_update_non_string_value(self):
        u = self.new_user("pbad")
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.request.post("v2/user/profile/update", m.UserProfileUpdateResult,
                                    data={"id": u.id, "profile": {"age": 42}})
        self.assertValidationSources(h[0], "/profile/age")

    def test_update_disable_and_enable(self):
        u, password = self.new_user_with_password("dis")
        token = login_token(u.email, password)

        resp = self.admin.user.update(email=u.email, disabled=True)
        self.assertEnvelope(resp)
        self.assertIsInstance(resp.result, m.UserUpdateResult)
        self.assertUserInfo(resp.result)
        self.assertTrue(resp.result.disabled)
        self.assertTrue(self.admin.user.profile.get(id=u.id).result.disabled)
        # sessions are revoked at once, logins refused
        with self.assertStatus("InvalidToken"):
            self.admin.client.token_endpoints.check(token)
        self.assertNotEqual(login(u.email, password).status_code, 200)

        resp = self.admin.user.update(id=u.id, disabled=False)
        self.assertFalse(resp.result.disabled)
        self.assertTrue(login_token(u.email, password))

    def test_update_unlock(self):
        u, password = self.new_user_with_password("lock")
        # fail until the account locks: scripts/sdk-test asks for a threshold of
        # ACCOUNT_FAILURES; the loop also copes with the default (10).
        for attempt in range(1, 25):
            if login(u.email, "wrong-" + password).status_code == 429:
                break
            if self.admin.user.profile.get(id=u.id).result.model_extra["locked_out"]:
                break
        else:
            self.fail("the account never locked")
        if attempt > ACCOUNT_FAILURES + 1:
            print(f"\n  note: locked after {attempt} failures, not {ACCOUNT_FAILURES}: "
                  "AEGIS_THROTTLE_ACCOUNT_FAILURES had no effect", end=" ")
        info = self.admin.user.profile.get(id=u.id).result
        self.assertTrue(info.model_extra["locked_out"], "user-info shows locked_out")
        self.assertNotEqual(login(u.email, password).status_code, 200, "a locked account refuses even the right password")

        resp = self.admin.user.update(username=u.username, unlock=True)
        self.assertEnvelope(resp)
        self.assertFalse(resp.result.model_extra["locked_out"])
        self.assertFalse(self.admin.user.profile.get(id=u.id).result.model_extra["locked_out"])
        self.assertTrue(login_token(u.email, password))

    def test_update_without_change_returns_user(self):
        u = self.new_user("noop")
        resp = self.admin.user.update(id=u.id)
        self.assertEnvelope(resp)
        self.assertEqual(resp.result.id, u.id)
        self.assertFalse(resp.result.disabled)

    def test_login_is_reflected_in_user_info(self):
        u, password = self.new_user_with_password("llog")
        login_token(u.email, password)
        info = self.admin.user.profile.get(id=u.id).result
        self.assertEqual(info.login_count, 1)
        self.assertIsNotNone(info.last_login_at)
        self.assertRegex(info.last_login_at, TIME_RE)
        self.assertEqual(info.last_login_ip, "127.0.0.1")

    def test_password_expire(self):
        u, password = self.new_user_with_password("exp")
        token = login_token(u.email, password)
        resp = self.admin.client.password.expire(u.id)
        self.assertEnvelope(resp)
        self.assertIsInstance(resp.result, PangeaResponseResult)
        self.assertEqual(resp.json["result"], {})
        # sessions survive an expiry (spec §4.7) and can set a new password
        new = strong_password()
        self.assertEnvelope(self.admin.client.password.change(token, password, new))
        self.assertTrue(login_token(u.email, new))

    def test_password_expire_unknown_user(self):
        u = self.new_user("expgone")
        self.admin.user.delete(id=u.id)
        with self.assertStatus("UserNotFound"):
            self.admin.client.password.expire(u.id)

    def test_authenticators_list_and_delete(self):
        u, password = self.new_user_with_password("auth")
        for kw in ({"id": u.id}, {"email": u.email}, {"username": u.username}):
            with self.subTest(**kw):
                resp = self.admin.user.authenticators.list(**kw)
                self.assertEnvelope(resp)
                self.assertIsInstance(resp.result, m.UserAuthenticatorsListResult)
                self.assertEqual(len(resp.result.authenticators), 1)
                a = resp.result.authenticators[0]
                self.assertAuthenticator(a)
                self.assertEqual(a.type, "password")
                self.assertTrue(a.enabled)
        auth_id = resp.result.authenticators[0].id
        self.assertEqual([a.id for a in self.admin.user.profile.get(id=u.id).result.authenticators], [auth_id])

        # someone else's authenticator is "not found" (spec §4.9)
        other, _ = self.new_user_with_password("auth2")
        with self.assertStatus("NotFound", pe.NotFound):
            self.admin.user.authenticators.delete(authenticator_id=auth_id, id=other.id)

        resp = self.admin.user.authenticators.delete(authenticator_id=auth_id, id=u.id)
        self.assertEnvelope(resp)
        self.assertIsInstance(resp.result, m.UserAuthenticatorsDeleteResult)
        self.assertEqual(self.admin.user.authenticators.list(id=u.id).result.authenticators, [])
        self.assertNotEqual(login(u.email, password).status_code, 200, "no password after its authenticator is gone")
        with self.assertStatus("NotFound", pe.NotFound):
            self.admin.user.authenticators.delete(authenticator_id=auth_id, email=u.email)

    def test_authenticators_empty_without_password(self):
        u = self.new_user("noauth")
        resp = self.view.user.authenticators.list(id=u.id)
        self.assertEnvelope(resp)
        self.assertEqual(resp.result.authenticators, [])

    def test_authenticators_delete_bad_id(self):
        u = self.new_user("authbad")
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.user.authenticators.delete(authenticator_id="nope", id=u.id)
        self.assertValidationSources(h[0], "/authenticator_id")


# ============================================================ user list (spec §3.8, §4.3)
class UserListTests(Base):
    def make(self, tag: str, n: int) -> list[m.User]:
        return [self.new_user(tag, username=unique(tag + "n")) for _ in range(n)]

    def test_filter_email_contains(self):
        tag = unique("lc")
        made = self.make(tag, 3)
        self.new_user("other")
        resp = self.admin.user.list(filter={"email__contains": [tag]})
        self.assertEnvelope(resp)
        self.assertIsInstance(resp.result, m.UserListResult)
        for u in resp.result.users:
            self.assertUserInfo(u)
        self.assertEqual({u.id for u in resp.result.users}, {u.id for u in made})
        self.assertEqual(resp.result.count, 3)
        self.assertIsNone(resp.result.last)
        # each substring must match (AND), case-insensitive
        resp = self.admin.user.list(filter={"email__contains": [tag.upper(), "@sdk.example."]})
        self.assertEqual(resp.result.count, 3)
        resp = self.admin.user.list(filter={"email__contains": [tag, "no-such-part"]})
        self.assertEqual((resp.result.count, resp.result.users), (0, []))

    def test_filter_model_instance(self):
        tag = unique("lm")
        made = self.make(tag, 2)
        resp = self.admin.user.list(filter=m.UserListFilter(email__contains=[tag], disabled=False))
        self.assertEqual({u.id for u in resp.result.users}, {u.id for u in made})

    def test_filter_exact_and_in(self):
        tag = unique("li")
        a, b, c = self.make(tag, 3)
        r = self.admin.user.list(filter={"email": a.email})
        self.assertEqual([u.id for u in r.result.users], [a.id])
        r = self.admin.user.list(filter={"email__in": [a.email, c.email]})
        self.assertEqual({u.id for u in r.result.users}, {a.id, c.id})
        r = self.admin.user.list(filter={"id__in": [b.id, c.id]})
        self.assertEqual({u.id for u in r.result.users}, {b.id, c.id})
        r = self.admin.user.list(filter={"id": b.id})
        self.assertEqual([u.id for u in r.result.users], [b.id])
        # the SDK's UserListFilter has no username keys: the spec's (OAS) username filters go raw
        r = self.admin.request.post("v2/user/list", m.UserListResult,
                                    data={"filter": {"username__contains": [tag + "n"]}})
        self.assertEqual(r.result.count, 3)
        r = self.admin.request.post("v2/user/list", m.UserListResult,
                                    data={"filter": {"username__in": [a.username]}})
        self.assertEqual([u.id for u in r.result.users], [a.id])

    def test_filter_disabled(self):
        tag = unique("ld")
        a, b = self.make(tag, 2)
        self.admin.user.update(id=b.id, disabled=True)
        r = self.admin.user.list(filter={"email__contains": [tag], "disabled": True})
        self.assertEqual([u.id for u in r.result.users], [b.id])
        self.assertTrue(r.result.users[0].disabled)
        r = self.admin.user.list(filter={"email__contains": [tag], "disabled": False})
        self.assertEqual([u.id for u in r.result.users], [a.id])

    def test_filter_created_at(self):
        tag = unique("lt")
        a, b = self.make(tag, 2)
        self.assertLess(parse_time(a.created_at), parse_time(b.created_at))
        r = self.admin.user.list(filter={"email__contains": [tag], "created_at__gt": a.created_at})
        self.assertEqual([u.id for u in r.result.users], [b.id])
        r = self.admin.user.list(filter={"email__contains": [tag], "created_at__gte": a.created_at})
        self.assertEqual(r.result.count, 2)
        r = self.admin.user.list(filter={"email__contains": [tag], "created_at__lt": b.created_at})
        self.assertEqual([u.id for u in r.result.users], [a.id])
        r = self.admin.user.list(filter={"email__contains": [tag], "created_at__lte": a.created_at})
        self.assertEqual([u.id for u in r.result.users], [a.id])
        # any RFC 3339 instant is accepted (offset form)
        later = (parse_time(b.created_at) + dt.timedelta(hours=1)).astimezone(dt.timezone(dt.timedelta(hours=2)))
        r = self.admin.user.list(filter={"email__contains": [tag], "created_at__lt": later.isoformat()})
        self.assertEqual(r.result.count, 2)

    def test_filter_login_count_and_verified(self):
        tag = unique("lv")
        email = f"{tag}@sdk.example.com"
        pw = strong_password()
        u = create_with_password(self.admin, email, pw).result
        self.new_user(tag)
        login_token(email, pw)
        r = self.admin.user.list(filter={"email__contains": [tag], "login_count__gt": 0})
        self.assertEqual([x.id for x in r.result.users], [u.id])
        r = self.admin.user.list(filter={"email__contains": [tag], "verified": False})
        self.assertEqual(r.result.count, 2)
        r = self.admin.user.list(filter={"email__contains": [tag], "require_mfa": True})
        self.assertEqual(r.result.count, 0)

    def test_paging_with_last(self):
        tag = unique("lp")
        made = self.make(tag, 5)
        want = [u.id for u in made]
        users, pages = self.list_all(filter={"email__contains": [tag]}, size=2,
                                     order=m.ItemOrder.ASC, order_by=m.UserListOrderBy.CREATED_AT)
        self.assertEqual([u.id for u in users], want)
        self.assertEqual([len(p.users) for p in pages], [2, 2, 1])
        self.assertEqual({p.count for p in pages}, {5}, "count is the total across pages")
        self.assertTrue(all(p.last for p in pages[:-1]))
        self.assertIsNone(pages[-1].last)

        users, _ = self.list_all(filter={"email__contains": [tag]}, size=2,
                                 order=m.ItemOrder.DESC, order_by=m.UserListOrderBy.CREATED_AT)
        self.assertEqual([u.id for u in users], want[::-1])

    def test_paging_default_order_and_size_change(self):
        tag = unique("lq")
        made = self.make(tag, 4)
        r1 = self.admin.user.list(filter={"email__contains": [tag]}, size=3)
        self.assertEqual([u.id for u in r1.result.users], [u.id for u in made[:3]], "default order: created_at asc")
        r2 = self.admin.user.list(filter={"email__contains": [tag]}, size=1, last=r1.result.last)
        self.assertEqual([u.id for u in r2.result.users], [made[3].id])
        self.assertIsNone(r2.result.last)

    def test_order_by_email_and_id(self):
        tag = unique("lo")
        made = self.make(tag, 3)
        r = self.admin.user.list(filter={"email__contains": [tag]}, order_by=m.UserListOrderBy.EMAIL,
                                 order=m.ItemOrder.DESC)
        self.assertEqual([u.email for u in r.result.users], sorted((u.email for u in made), reverse=True))
        users, _ = self.list_all(filter={"email__contains": [tag]}, order_by=m.UserListOrderBy.ID, size=1)
        self.assertEqual(sorted(u.id for u in users), sorted(u.id for u in made))
        for ob in (m.UserListOrderBy.LAST_LOGIN_AT, m.UserListOrderBy.ACTIVE_TOKEN_ID):
            with self.subTest(order_by=ob.value):
                users, _ = self.list_all(filter={"email__contains": [tag]}, order_by=ob, size=2)
                self.assertEqual(len(users), 3)

    def test_whole_directory_walk(self):
        users, pages = self.list_all(size=7)
        self.assertEqual(len(users), pages[0].count)
        self.assertEqual(len({u.id for u in users}), len(users), "no duplicates across pages")
        self.assertIn(ADMIN_EMAIL, {u.email for u in users})

    def test_view_token_may_list(self):
        tag = unique("lview")
        made = self.make(tag, 1)
        r = self.view.user.list(filter={"email__contains": [tag]})
        self.assertEqual([u.id for u in r.result.users], [made[0].id])
        self.assertEqual(self.view.user.profile.get(id=made[0].id).result.id, made[0].id)

    def test_size_zero_is_validation_error(self):
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.user.list(size=0)
        self.assertValidationSources(h[0], "/size")
        self.assertIn("NotWithinRange", [e.code for e in h[0].errors])

    def test_unknown_filter_key(self):
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.request.post("v2/user/list", m.UserListResult, data={"filter": {"bogus": "x"}})
        self.assertValidationSources(h[0], "/filter/bogus")

    def test_wrong_filter_type(self):
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.request.post("v2/user/list", m.UserListResult,
                                    data={"filter": {"email__contains": "not-a-list"}})
        self.assertValidationSources(h[0], "/filter/email__contains")

    def test_bad_cursor(self):
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.user.list(last="not-a-cursor")
        self.assertValidationSources(h[0], "/last")

    def test_cursor_bound_to_filter(self):
        tag = unique("lb")
        self.make(tag, 3)
        r = self.admin.user.list(filter={"email__contains": [tag]}, size=1)
        self.assertTrue(r.result.last)
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.user.list(filter={"email__contains": [tag + "x"]}, size=1, last=r.result.last)
        self.assertValidationSources(h[0], "/last")


# ============================================================ groups (spec §4.10, §7.4)
class GroupTests(Base):
    def new_group(self, tag: str = "g", **kw) -> m.GroupInfo:
        resp = self.admin.group.create(unique(tag), "team", **kw)
        self.assertEnvelope(resp)
        self.assertIsInstance(resp.result, m.GroupInfo)
        self.assertRegex(resp.result.id, ID_RE["group"])
        return resp.result

    def test_group_crud(self):
        name = unique("Console Users ")
        resp = self.admin.group.create(name, "system", description="console",
                                       attributes={"source": "ACME Directory"})
        self.assertEnvelope(resp)
        g = resp.result
        self.assertEqual((g.name, g.type, g.description, g.attributes), (name, "system", "console", {"source": "ACME Directory"}))
        self.assertIsInstance(g.created_at, dt.datetime)
        self.assertRegex(resp.json["result"]["created_at"], TIME_RE)

        got = self.view.group.get(g.id)
        self.assertEnvelope(got)
        self.assertEqual(got.result.model_dump(), g.model_dump())

        upd = self.admin.group.update(g.id, name=name + " v2", description="renamed", type="custom",
                                      attributes={"source": "LDAP"})
        self.assertEnvelope(upd)
        self.assertEqual((upd.result.id, upd.result.name, upd.result.type, upd.result.description, upd.result.attributes),
                         (g.id, name + " v2", "custom", "renamed", {"source": "LDAP"}))
        self.assertGreaterEqual(upd.result.updated_at, g.updated_at)
        # a partial update keeps the other fields
        upd2 = self.admin.group.update(g.id, description="again")
        self.assertEqual((upd2.result.name, upd2.result.type, upd2.result.description),
                         (name + " v2", "custom", "again"))

        dl = self.admin.group.delete(g.id)
        self.assertEnvelope(dl)
        self.assertEqual(dl.json["result"], {})
        with self.assertStatus("NotFound", pe.NotFound):
            self.admin.group.get(g.id)
        with self.assertStatus("NotFound", pe.NotFound):
            self.admin.group.delete(g.id)
        with self.assertStatus("NotFound", pe.NotFound):
            self.admin.group.update(g.id, name="x")

    def test_group_duplicate_name(self):
        g = self.new_group("dupg")
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.group.create(g.name.upper(), "team")
        self.assertValidationSources(h[0], "/name")

    def test_group_get_bad_id(self):
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.group.get("not-a-group")
        self.assertValidationSources(h[0], "/id")

    def test_group_list_paging(self):
        tag = unique("gp")
        made = [self.new_group(tag) for _ in range(3)]
        resp = self.view.group.list()
        self.assertEnvelope(resp)
        self.assertIsInstance(resp.result, m.GroupList)
        total = resp.result.count
        self.assertGreaterEqual(total, 3)

        seen, last, pages = [], None, 0
        while True:
            r = self.admin.group.list(order="asc", order_by="name", size=2, last=last)
            self.assertEnvelope(r)
            pages += 1
            seen += r.result.groups
            self.assertEqual(r.result.count, total, "count is the total across pages")
            if not r.result.last:
                break
            last = r.result.last
            self.assertLess(pages, 1000)
        names = [g.name for g in seen]
        self.assertEqual(len(seen), total)
        self.assertEqual(len({g.id for g in seen}), total, "no duplicates across pages")
        self.assertIn(names, (sorted(names), sorted(names, key=str.casefold)), "ordered by name")
        self.assertLessEqual({g.id for g in made}, {g.id for g in seen})

        r = self.admin.group.list(order="desc", order_by="created_at", size=3)
        self.assertEqual([g.id for g in r.result.groups], [g.id for g in made][::-1], "newest first")
        self.assertTrue(r.result.last or total == 3)

    def test_group_list_filter(self):
        tag = unique("gl")
        made = [self.new_group(tag) for _ in range(3)]
        self.new_group("other")
        resp = self.view.group.list(filter=m.GroupsFilter(name__contains=[tag]))
        self.assertEnvelope(resp)
        self.assertEqual(resp.result.count, 3)
        self.assertEqual({g.id for g in resp.result.groups}, {g.id for g in made})
        r = self.admin.group.list(filter=m.GroupsFilter(name__contains=[tag]), order="asc", order_by="name", size=2)
        self.assertEqual([g.name for g in r.result.groups], sorted(g.name for g in made)[:2])
        self.assertTrue(r.result.last)
        r = self.admin.group.list(filter=m.GroupsFilter(name=made[1].name))
        self.assertEqual([g.id for g in r.result.groups], [made[1].id])
        r = self.admin.group.list(filter=m.GroupsFilter(id__in=[made[0].id, made[2].id]))
        self.assertEqual({g.id for g in r.result.groups}, {made[0].id, made[2].id})
        r = self.admin.group.list(filter=m.GroupsFilter(name__contains=[tag], type="team"))
        self.assertEqual(r.result.count, 3)
        r = self.admin.group.list(filter=m.GroupsFilter(name__contains=[tag], created_at__gt=made[0].created_at.isoformat()))
        self.assertEqual({g.id for g in r.result.groups}, {made[1].id, made[2].id})

    def test_user_groups_assign_list_remove(self):
        u = self.new_user("ug")
        tag = unique("ug")
        b = self.admin.group.create(tag + "-b", "team").result
        a = self.admin.group.create(tag + "-a", "team").result

        resp = self.admin.user.group.assign(u.id, [b.id, a.id])
        self.assertEnvelope(resp)
        self.assertEqual(resp.json["result"], {})
        self.admin.user.group.assign(u.id, [a.id])  # idempotent

        lst = self.view.user.group.list(u.id)
        self.assertEnvelope(lst)
        self.assertIsInstance(lst.result, m.GroupList)
        self.assertEqual([g.id for g in lst.result.groups], [a.id, b.id], "ordered by name")
        self.assertEqual(lst.result.count, 2)
        self.assertEqual(lst.result.model_extra.get("group_ids"), [a.id, b.id])
        self.assertEqual(sorted(self.admin.user.profile.get(id=u.id).result.model_extra["groups"]), sorted([a.id, b.id]))

        members = self.view.group.list_users(a.id)
        self.assertEnvelope(members)
        self.assertIsInstance(members.result, m.GroupUserList)
        self.assertEqual([x.id for x in members.result.users], [u.id])
        self.assertEqual(members.result.count, 1)
        self.assertUserInfo(members.result.users[0])

        resp = self.admin.user.group.remove(u.id, b.id)
        self.assertEnvelope(resp)
        self.assertEqual([g.id for g in self.admin.user.group.list(u.id).result.groups], [a.id])
        self.admin.user.group.remove(u.id, b.id)  # not assigned: still Success
        self.assertEqual(self.admin.group.list_users(b.id).result.count, 0)

    def test_user_group_errors(self):
        u = self.new_user("uge")
        g = self.new_group("uge")
        gone = self.new_group("ugegone")
        self.admin.group.delete(gone.id)
        # atomic: one unknown group, nothing assigned
        with self.assertStatus("NotFound", pe.NotFound):
            self.admin.user.group.assign(u.id, [g.id, gone.id])
        self.assertEqual(self.admin.user.group.list(u.id).result.count, 0)
        with self.assertStatus("NotFound", pe.NotFound):
            self.admin.user.group.remove(u.id, gone.id)
        with self.assertStatus("NotFound", pe.NotFound):
            self.admin.group.list_users(gone.id)

        ghost = self.new_user("ugeghost")
        self.admin.user.delete(id=ghost.id)
        with self.assertStatus("UserNotFound"):
            self.admin.user.group.assign(ghost.id, [g.id])
        with self.assertStatus("UserNotFound"):
            self.admin.user.group.remove(ghost.id, g.id)
        with self.assertStatus("UserNotFound"):
            self.admin.user.group.list(ghost.id)

        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.user.group.assign(u.id, [])
        self.assertValidationSources(h[0], "/group_ids")
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.user.group.assign(u.id, ["bogus"])
        self.assertValidationSources(h[0], "/group_ids/0")

    def test_group_delete_unassigns(self):
        u = self.new_user("gdu")
        g = self.new_group("gdu")
        self.admin.user.group.assign(u.id, [g.id])
        self.admin.group.delete(g.id)
        self.assertEqual(self.admin.user.group.list(u.id).result.groups, [])
        self.assertEqual(self.admin.user.profile.get(id=u.id).result.model_extra["groups"], [])

    def test_user_delete_leaves_group(self):
        g = self.new_group("udl")
        u1, u2 = self.new_user("udl"), self.new_user("udl")
        self.admin.user.group.assign(u1.id, [g.id])
        self.admin.user.group.assign(u2.id, [g.id])
        self.admin.user.delete(id=u1.id)
        self.assertEqual([x.id for x in self.admin.group.list_users(g.id).result.users], [u2.id])

    def test_group_list_users_paging(self):
        g = self.new_group("glu")
        made = [self.new_user("glu") for _ in range(3)]
        for u in made:
            self.admin.user.group.assign(u.id, [g.id])
        seen, last = [], None
        for _ in range(10):
            r = self.admin.group.list_users(g.id, size=2, last=last)
            self.assertEqual(r.result.count, 3)
            seen += [u.id for u in r.result.users]
            last = r.result.last
            if not last:
                break
        self.assertEqual(sorted(seen), sorted(u.id for u in made))
        self.assertEqual(len(seen), 3)


# ============================================================ client token (spec §5.2, §7.1)
class ClientTests(Base):
    def test_token_check_session_token(self):
        u, password = self.new_user_with_password("tc", {"first_name": "Tia"})
        token = login_token(u.email, password)
        resp = self.admin.client.token_endpoints.check(token)
        self.assertEnvelope(resp)
        r = resp.result
        self.assertIsInstance(r, m.ClientTokenCheckResult)
        self.assertRegex(r.id, ID_RE["token"])
        self.assertEqual(r.type, "user")
        self.assertGreater(r.life, 0)
        self.assertEqual(r.identity, u.id)
        self.assertEqual(r.email, u.email)
        self.assertEqual(r.profile, {"first_name": "Tia"})
        self.assertIsInstance(r.expire, dt.datetime)
        self.assertGreater(r.expire, r.created_at)
        self.assertRegex(resp.json["result"]["expire"], TIME_RE)
        # any valid credential may be the client token, including the user's own
        self.assertEqual(client(token).client.token_endpoints.check(token).result.identity, u.id)
        self.assertEqual(self.view.client.token_endpoints.check(token).result.id, r.id)

    def test_token_check_api_token(self):
        r = self.admin.client.token_endpoints.check(ADMIN_TOKEN).result
        self.assertEqual(r.type, "service")
        self.assertEqual(r.email, ADMIN_EMAIL)
        self.assertRegex(r.identity, ID_RE["user"])
        self.assertRegex(r.id, ID_RE["token"])

    def test_token_check_invalid(self):
        for bogus in ("ptu_" + "a" * 32, "aaa.bbb.ccc"):
            with self.subTest(token=bogus), self.assertStatus("InvalidToken"):
                self.admin.client.token_endpoints.check(bogus)

    def test_password_change(self):
        u, old = self.new_user_with_password("pc")
        token = login_token(u.email, old)
        new = strong_password()
        resp = self.admin.client.password.change(token, old, new)
        self.assertEnvelope(resp)
        self.assertIsInstance(resp.result, m.ClientPasswordChangeResult)
        self.assertEqual(resp.json["result"], {})
        self.assertTrue(login_token(u.email, new))
        self.assertNotEqual(login(u.email, old).status_code, 200)
        # the calling session stays valid (spec §5.2)
        self.assertEqual(self.admin.client.token_endpoints.check(token).result.identity, u.id)

    def test_password_change_revokes_other_sessions(self):
        u, old = self.new_user_with_password("pcr")
        calling = login_token(u.email, old)
        other = login_token(u.email, old)
        self.admin.client.password.change(calling, old, strong_password())
        with self.assertStatus("InvalidToken"):
            self.admin.client.token_endpoints.check(other)

    def test_password_change_errors(self):
        u, old = self.new_user_with_password("pce")
        token = login_token(u.email, old)
        with self.assertStatus("AuthenticationFailure"):
            self.admin.client.password.change(token, "wrong-" + old, strong_password())
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.client.password.change(token, old, "short")
        self.assertValidationSources(h[0], "/new_password")
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.client.password.change(token, old, "password123")
        self.assertValidationSources(h[0], "/new_password")
        with self.assertStatus("InvalidToken"):
            self.admin.client.password.change("ptu_" + "b" * 32, old, strong_password())
        self.assertTrue(login_token(u.email, old), "nothing changed")

    def test_admin_session_token_as_service_token(self):
        # an admin's session access token works as a service Bearer (spec §3.6)
        token = login_token(ADMIN_EMAIL, ADMIN_PASSWORD)
        r = client(token).user.list(size=1)
        self.assertEnvelope(r)
        self.assertEqual(len(r.result.users), 1)


# ============================================================ sessions (spec §7.2)
def aiohttp_login(identifier: str, password: str) -> dict:
    """A session with a refresh token, from the aiohttp dialect of the same server."""
    r = requests.post(f"{URL}/auth", json={"username": identifier, "password": password}, timeout=10)
    r.raise_for_status()
    return r.json()


class SessionTests(Base):
    def test_client_list_refresh_logout(self):
        u, password = self.new_user_with_password("ses")
        pair = aiohttp_login(u.email, password)
        other = login_token(u.email, password)
        mine = self.admin.client.session.list(pair["access_token"]).result.sessions
        self.assertEqual(len(mine), 2, "both sessions of the user, nobody else's")
        for s in mine:
            self.assertRegex(s.id, ID_RE["token"])
            self.assertEqual(s.identity, u.id)
            self.assertEqual(s.email, u.email)
            self.assertGreater(s.life, 0)
        # refresh: a rotated pair of login tokens
        r = self.admin.client.session.refresh(pair["refresh_token"], user_token=pair["access_token"]).result
        self.assertEqual(r.active_token.type, "user")
        self.assertEqual(r.refresh_token.type, "session")
        self.assertEqual(r.active_token.identity, u.id)
        with self.assertStatus("CantRefreshToken"):
            self.admin.client.session.refresh(pair["refresh_token"])
        # reuse revoked that session: one left, then logout ends it
        self.assertEqual(len(self.admin.client.session.list(other).result.sessions), 1)
        self.admin.client.session.logout(other)
        with self.assertStatus("InvalidToken"):
            self.admin.client.token_endpoints.check(other)

    def test_invalidate_and_admin_logout(self):
        u, password = self.new_user_with_password("inv")
        a = login_token(u.email, password)
        b = login_token(u.email, password)
        sessions = self.admin.session.list(filter={"identity": u.id}).result.sessions
        self.assertEqual(len(sessions), 2)
        self.assertIsInstance(self.view.session.list(size=1).result.sessions, list)
        b_id = self.admin.client.token_endpoints.check(b).result.id
        # The id of a token check on an access token is the token's; pick b's session by elimination.
        a_session = [s for s in sessions if s.id != b_id]
        self.admin.client.session.invalidate(a, a_session[0].id)
        remaining = self.admin.session.list(filter={"identity": u.id}).result.sessions
        self.assertEqual(len(remaining), 1)
        self.admin.session.invalidate(remaining[0].id)
        with self.assertStatus("NotFound"):
            self.admin.session.invalidate(remaining[0].id)
        c = login_token(u.email, password)
        self.admin.session.logout(u.id)
        with self.assertStatus("InvalidToken"):
            self.admin.client.token_endpoints.check(c)
        with self.assertStatus("Forbidden"):
            self.view.session.logout(u.id)


# ============================================================ errors (spec §2, §3.6)
class ErrorTests(Base):
    def test_unknown_user(self):
        u = self.new_user("unk")
        self.admin.user.delete(id=u.id)
        calls = {
            "profile.get(email)": lambda: self.admin.user.profile.get(email="nobody-" + u.email),
            "profile.get(id)": lambda: self.admin.user.profile.get(id=u.id),
            "profile.get(username)": lambda: self.admin.user.profile.get(username=unique("nobody")),
            "profile.update": lambda: self.admin.user.profile.update({"a": "b"}, id=u.id),
            "update": lambda: self.admin.user.update(email=u.email, disabled=True),
            "delete": lambda: self.admin.user.delete(email=u.email),
            "authenticators.list": lambda: self.admin.user.authenticators.list(id=u.id),
            "authenticators.delete": lambda: self.admin.user.authenticators.delete(
                authenticator_id="pau_" + "a" * 32, id=u.id),
        }
        for name, call in calls.items():
            with self.subTest(call=name), self.assertStatus("UserNotFound") as h:
                call()
            self.assertIs(type(h[0]), pe.PangeaAPIException)

    def test_view_token_forbidden_on_writes(self):
        u = self.new_user("forb")
        g = self.admin.group.create(unique("forb"), "team").result
        calls = {
            "user.create": lambda: self.view.user.create(unique_email("forb"), {}),
            "user.delete": lambda: self.view.user.delete(id=u.id),
            "user.update": lambda: self.view.user.update(id=u.id, disabled=True),
            "profile.update": lambda: self.view.user.profile.update({"a": "b"}, id=u.id),
            "password.expire": lambda: self.view.client.password.expire(u.id),
            "authenticators.delete": lambda: self.view.user.authenticators.delete(
                authenticator_id="pau_" + "a" * 32, id=u.id),
            "user.group.assign": lambda: self.view.user.group.assign(u.id, [g.id]),
            "user.group.remove": lambda: self.view.user.group.remove(u.id, g.id),
            "group.create": lambda: self.view.group.create(unique("forb"), "team"),
            "group.update": lambda: self.view.group.update(g.id, name="x"),
            "group.delete": lambda: self.view.group.delete(g.id),
            # role is checked before the body (spec §3.6): an invalid body is still Forbidden
            "user.create with an invalid body": lambda: self.view.user.create("bad", {}),
        }
        for name, call in calls.items():
            with self.subTest(call=name), self.assertStatus("Forbidden"):
                call()
        # nothing happened
        self.assertFalse(self.admin.user.profile.get(id=u.id).result.disabled)
        self.assertEqual(self.admin.group.get(g.id).result.name, g.name)

    def test_bad_token_unauthorized(self):
        for authn in (self.bad, client("x"), client(ADMIN_TOKEN + "x")):
            with self.subTest(), self.assertStatus("Unauthorized", pe.UnauthorizedException):
                authn.user.list()
        with self.assertStatus("Unauthorized", pe.UnauthorizedException):
            self.bad.client.token_endpoints.check(ADMIN_TOKEN)
        # 401 comes before body validation
        with self.assertStatus("Unauthorized", pe.UnauthorizedException):
            self.bad.user.list(size=0)

    def test_revoked_session_bearer(self):
        u, password = self.new_user_with_password("rev")
        token = login_token(u.email, password)
        self.admin.user.delete(id=u.id)
        with self.assertStatus("Unauthorized", pe.UnauthorizedException):
            client(token).client.token_endpoints.check(ADMIN_TOKEN)

    def test_validation_error_shape(self):
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.user.list(size=0)
        e = h[0]
        self.assertEqual(e.response.http_status, 400)
        raw = e.response.json["result"]
        self.assertEqual(set(raw), {"errors"})
        for err in raw["errors"]:
            self.assertLessEqual({"code", "detail", "source"}, set(err))

    def test_missing_selector(self):
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.user.profile.get()
        self.assertValidationSources(h[0], "/id")

    def test_missing_required_and_unexpected_fields(self):
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.request.post("v2/user/create", m.UserCreateResult, data={"profile": {}})
        self.assertValidationSources(h[0], "/email")
        self.assertIn("FieldRequired", [x.code for x in h[0].errors])
        with self.assertStatus("ValidationError", pe.ValidationException) as h:
            self.admin.request.post("v2/user/create", m.UserCreateResult,
                                    data={"email": unique_email("x"), "profile": {}, "color": "red"})
        self.assertValidationSources(h[0], "/color")

    def test_config_id_is_ignored(self):
        u = self.new_user("cfg")
        r = self.admin.request.post("v2/user/profile/get", m.UserProfileGetResult,
                                    data={"id": u.id, "config_id": "pci_" + "a" * 32})
        self.assertEqual(r.result.id, u.id)

    def test_unknown_route(self):
        with self.assertStatus("NotFound", pe.NotFound):
            self.admin.request.post("v2/user/nope", PangeaResponseResult, data={})

    def test_keepalive_survives_early_errors(self):
        """Python's http.client (under requests, under the SDK) sends the headers and
        the body in two send() calls. An answer given before the body is read
        (401, 403, unknown route) must not leave the pooled connection dead: the
        SDK's next POST on it would fail with RemoteDisconnected (POSTs are not
        retried). Made deterministic here with a raw socket and a delayed body."""
        host, port = urllib.parse.urlsplit(URL).hostname, urllib.parse.urlsplit(URL).port
        body = b'{"email": "keepalive@sdk.example.com", "profile": {}}'

        def head(path: str, token: str, n: int) -> bytes:
            return (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {n}\r\n\r\n").encode()

        def read_response(f) -> tuple[str, dict[str, str]]:
            status = f.readline().decode().strip()
            headers = {}
            while (line := f.readline()) not in (b"\r\n", b""):
                k, _, v = line.decode().partition(":")
                headers[k.strip().lower()] = v.strip()
            f.read(int(headers.get("content-length", "0")))
            return status, headers

        cases = {
            "403 (view token on a write)": ("/v2/user/create", VIEW_TOKEN),
            "401 (bad token)": ("/v2/user/create", "pts_" + "z" * 32),
            "404 (unknown route)": ("/v2/user/nope", ADMIN_TOKEN),
            "400 (validation, for reference)": ("/v2/user/create", ADMIN_TOKEN),
        }
        for label, (path, token) in cases.items():
            with self.subTest(label), socket.create_connection((host, port), timeout=5) as sock:
                f = sock.makefile("rb")
                sock.sendall(head(path, token, len(body if "400" not in label else b"{}")))
                time.sleep(0.05)
                sock.sendall(body if "400" not in label else b"{}")
                first, headers = read_response(f)
                self.assertNotIn(" 200 ", first)
                if headers.get("connection", "").lower() == "close":
                    continue  # announced: clients open a new connection
                try:
                    sock.sendall(head("/v2/user/list", ADMIN_TOKEN, 2) + b"{}")
                    second, _ = read_response(f)
                except OSError as e:
                    second = f"<{e}>"
                self.assertTrue(second.startswith("HTTP/1.1 200"),
                                f"after {first!r} (sent before the body was read) the server dropped the "
                                f"keep-alive connection without 'Connection: close'; next request got {second or '<EOF>'!r}")

    def test_non_post_and_bad_json_get_envelopes(self):
        # raw HTTP (spec §1.3): every /v2 answer is an envelope, whatever went wrong
        s = requests.Session()
        r = s.get(f"{URL}/v2/user/list", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10)
        self.assertEqual(r.status_code, 405)
        self.assertEqual(set(r.json()), ENVELOPE_KEYS)
        self.assertEqual(r.json()["status"], "MethodNotAllowed")
        r = s.post(f"{URL}/v2/user/list", data="{not json", timeout=10,
                   headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"})
        self.assertEqual(r.status_code, 400)
        body = r.json()
        self.assertEqual(set(body), ENVELOPE_KEYS)
        self.assertEqual(body["status"], "ValidationError")
        self.assertEqual([e["source"] for e in body["result"]["errors"]], ["/"])


class ImportTests(Base):
    """Bulk import (spec §6) through the SDK's generic transport, exactly as the
    spec shows the call: `data` is the `request` part, `files` the upload."""

    BCRYPT = "$2b$04$5Lg6UIBWseMGMWXSI3BK8eM7yCkJ8n2Ww/ngp4gKAHl17vdPC1Xr6"  # "correct horse battery staple"

    def upload(self, csv: bytes, authn=None):
        authn = authn or self.admin
        return authn.request.post(
            "v2/users/sources/upload",
            PangeaResponseResult,
            data={"transfer_method": "multipart", "file_type": "csv"},
            files=[("upload", ("users.csv", csv, "text/csv"))],
        )

    def test_upload_import_poll_and_log_in(self):
        email = unique_email("imp")
        csv = f"email,first_name,pw\n{email},Ann,{self.BCRYPT}\nbroken,Bob,\n".encode()
        resp = self.upload(csv)
        self.assertEnvelope(resp)
        source = resp.json["result"]["object"]
        self.assertRegex(source["id"], r"^pus_[a-z2-7]{32}$")
        self.assertEqual([f["source_field_name"] for f in source["source_fields"]], ["email", "first_name", "pw"])
        mappings = [
            {"source_field": {"source_field_name": "email", "source_field_type": "string"},
             "pangea_field": {"pangea_field_name": "email", "pangea_field_type": "email", "required": True}},
            {"source_field": {"source_field_name": "first_name", "source_field_type": "string"},
             "pangea_field": {"pangea_field_name": "first_name", "pangea_field_type": "string", "is_profile_field": True}},
            {"source_field": {"source_field_name": "pw", "source_field_type": "string"},
             "pangea_field": {"pangea_field_name": "password", "pangea_field_type": "string",
                              "password_hash_params": {"algorithm": "BCRYPT"}}},
        ]
        resp = self.admin.request.post("v2/users/import", PangeaResponseResult,
                                       data={"name": "sdk", "source_id": source["id"], "field_mappings": mappings})
        self.assertEnvelope(resp)
        job = resp.json["result"]
        self.assertRegex(job["id"], r"^pum_[a-z2-7]{32}$")
        self.assertEqual(job["status"], "pending")
        for _ in range(200):
            resp = self.view.request.post("v2/users/import/get", PangeaResponseResult,
                                          data={"id": job["id"], "verbose_failed": True})
            job = resp.json["result"]
            if job["status"] != "pending":
                break
            time.sleep(0.05)
        self.assertEqual(job["status"], "success")
        self.assertEqual((job["summary"]["total"], job["summary"]["successful"], job["summary"]["failed"]), (2, 1, 1))
        self.assertEqual([d["message"] for d in job["details"]], ["row 2: email: does not match pattern"])
        # The imported user exists with its profile and a password authenticator.
        user = self.admin.user.profile.get(email=email).result
        self.assertEqual(user.profile["first_name"], "Ann")
        self.assertEqual([a.type for a in user.authenticators], ["password"])
        resp = self.view.request.post("v2/users/import/list", PangeaResponseResult,
                                      data={"filter": {"id": job["id"]}})
        self.assertEqual(resp.json["result"]["count"], 1)

    def test_upload_errors_and_roles(self):
        with self.assertStatus("ValidationError", pe.ValidationException) as caught:
            self.upload(b"")
        self.assertEqual([e.source for e in caught[0].errors], ["/upload"])
        with self.assertStatus("Forbidden"):
            self.upload(b"email\na@b.co\n", authn=self.view)


if __name__ == "__main__":
    unittest.main()
