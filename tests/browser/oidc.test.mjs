// The OpenID Connect provider, driven by a stock relying-party library: openid-client
// (v6) does discovery, builds the authorization requests, checks the responses (state,
// iss, PKCE, nonce, ID-token claims and, with non-repudiation checks on, its signature
// against the JWKS) and calls the token, userinfo, introspection, revocation and
// end-session endpoints. Chromium plays the user on the hosted pages.
//
// Environment (from scripts/browser-test, besides lib.mjs's):
//   AEGIS_OIDC_ISSUER    http://localhost:PORT, the issuer (the browser uses this host)
//   AEGIS_OIDC_CALLBACK  http://127.0.0.1:PORT2, where every client's redirect URI lives;
//                        this file serves it
//   AEGIS_OIDC_CLIENTS   JSON {key: {client_id, client_secret?, name, redirect_uri,
//                        post_logout_redirect_uri?}} registered with `aegis client create`
//   AEGIS_ADMIN_TOKEN    an admin API token (deactivates a user through /v2/user/update)
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test, before, after } from 'node:test';
import { browserTest, user, submit, signIn, pathOf, text, shot } from './lib.mjs';
import { totp, stepAt } from './totp.mjs';

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the suite with scripts/browser-test`);
  return v;
}

const ISSUER = env('AEGIS_OIDC_ISSUER');
const CALLBACK = new URL(env('AEGIS_OIDC_CALLBACK'));
const CLIENTS = JSON.parse(env('AEGIS_OIDC_CLIENTS'));
const ADMIN_TOKEN = env('AEGIS_ADMIN_TOKEN');
const MFA = 'urn:aegis:acr:mfa';
const PWD = 'urn:aegis:acr:pwd';
const EVIL = 'https://evil.example/cb';

// openid-client is ESM: imported from the node_modules scripts/browser-test installs
const require = createRequire(join(env('AEGIS_BROWSER_NODE_MODULES'), 'noop.js'));
const oidc = await import(require.resolve('openid-client'));

function client(key) {
  const c = CLIENTS[key];
  if (!c) throw new Error(`no client ${key} in AEGIS_OIDC_CLIENTS`);
  return c;
}

// ---- the relying parties' callback server ----

/** Every request that reached the callback server: {method, url, path, body}. */
const hits = [];
let callbackServer;

before(async () => {
  callbackServer = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url, CALLBACK);
      hits.push({ method: req.method, url: url.href, path: url.pathname, body: Buffer.concat(chunks).toString() });
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>relying party</title><p id="rp">relying party ${url.pathname}</p>`);
    });
  });
  await new Promise((resolve, reject) => {
    callbackServer.once('error', reject);
    callbackServer.listen(Number(CALLBACK.port), CALLBACK.hostname, resolve);
  });
});
after(async () => {
  if (!callbackServer) return;
  callbackServer.closeAllConnections();
  await new Promise((r) => callbackServer.close(r));
});

/** The hits on one path (favicon requests and the like left out). */
function hitsOn(uri) {
  const path = new URL(uri).pathname;
  return hits.filter((h) => h.path === path);
}

// ---- openid-client configurations, one per client (and per authentication) ----

const configs = new Map();

/**
 * The discovered configuration of client KEY. `auth` picks the token-endpoint
 * authentication ('basic' default, 'post', 'none', or a ClientAuth), `secret`
 * overrides the registered secret, `alg` the expected ID-token algorithm.
 */
async function rp(key, { auth = 'basic', secret, alg = 'RS256' } = {}) {
  const id = `${key}/${typeof auth === 'string' ? auth : 'custom'}/${secret ?? ''}/${alg}`;
  if (typeof auth === 'string' && configs.has(id)) return configs.get(id);
  const c = client(key);
  const s = secret ?? c.client_secret;
  const clientAuth =
    typeof auth !== 'string'
      ? auth
      : auth === 'none'
        ? oidc.None()
        : auth === 'post'
          ? oidc.ClientSecretPost(s)
          : oidc.ClientSecretBasic(s);
  const config = await oidc.discovery(
    new URL(ISSUER),
    c.client_id,
    { redirect_uris: [c.redirect_uri], id_token_signed_response_alg: alg },
    clientAuth,
    // plain HTTP on loopback; and check every ID token's signature against the JWKS
    { execute: [oidc.allowInsecureRequests, oidc.enableNonRepudiationChecks], timeout: 15 },
  );
  if (typeof auth === 'string') configs.set(id, config);
  return config;
}

/**
 * A fresh authorization request of client KEY: its URL (openid-client builds it) and
 * the checks its response must pass. `params` adds or overrides parameters; a
 * parameter set to null is left out.
 */
async function authRequest(config, key, params = {}) {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const all = {
    redirect_uri: client(key).redirect_uri,
    scope: 'openid',
    state,
    nonce,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    ...params,
  };
  const dropped = Object.keys(all).filter((k) => all[k] === null);
  for (const k of dropped) delete all[k];
  const url = oidc.buildAuthorizationUrl(config, all);
  for (const k of dropped) url.searchParams.delete(k); // (client_id: openid-client adds it)
  return {
    url,
    state: all.state,
    nonce: all.nonce,
    verifier,
    checks: { pkceCodeVerifier: verifier, expectedState: all.state, expectedNonce: all.nonce },
  };
}

/** Waits until the page is at REDIRECT_URI; returns the full URL it landed on. */
async function landed(page, redirectUri) {
  await page.waitForURL((u) => u.href.startsWith(redirectUri), { timeout: 15_000 });
  return new URL(page.url());
}

/** A page of the provider on the issuer's host (the browser's cookies are on it). */
async function go(page, path) {
  const res = await page.goto(ISSUER + path);
  assert.ok(res, `no response for ${path}`);
  return res;
}

/**
 * Starts an authorization in the browser and, when the hosted sign-in page shows,
 * signs in with the password. Returns the URL the client's callback got.
 */
async function authorizeWithPassword(page, key, req, me) {
  await page.goto(req.url.href);
  if (!page.url().startsWith(client(key).redirect_uri)) {
    assert.equal(pathOf(page), '/login', `the sign-in page, not ${page.url()}`);
    await signIn(page, me.email, me.password);
  }
  return landed(page, client(key).redirect_uri);
}

/** Decodes a JWT's header and claims (no check: openid-client checks). */
function decodeJwt(jwt) {
  const [h, p] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()),
    claims: JSON.parse(Buffer.from(p, 'base64url').toString()),
  };
}

/** The error a promise rejects with (fails when it resolves). */
async function rejection(promise, what) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail(`${what}: expected a refusal`);
}

/**
 * The OAuth error of a refusal openid-client threw: {error, status}. A refusal with a
 * WWW-Authenticate challenge (401 invalid_client after Basic authentication) comes as
 * a WWWAuthenticateChallengeError whose body is still unread.
 */
async function oauthError(e) {
  if (e?.error) return { error: e.error, status: e.status };
  if (e?.response && typeof e.response.clone === 'function') {
    const raw = await e.response.clone().text();
    let error;
    try {
      error = JSON.parse(raw).error;
    } catch {
      /* not JSON */
    }
    if (!error && Array.isArray(e.cause)) error = e.cause.map((c) => c.parameters?.error).find(Boolean);
    return { error, status: e.status ?? e.response.status };
  }
  return { error: undefined, status: undefined };
}

/** Asserts that PROMISE fails with the OAuth error CODE (and HTTP STATUS, when given). */
async function refused(promise, code, what, status) {
  const e = await rejection(promise, what);
  const got = await oauthError(e);
  assert.equal(got.error, code, `${what}: ${e}`);
  if (status !== undefined) assert.equal(got.status, status, `${what}: HTTP status`);
}

/** A raw UserInfo GET with a bearer: {status, body}. */
async function userinfoStatus(accessToken) {
  const res = await fetch(`${ISSUER}/oauth2/userinfo`, {
    headers: { authorization: `Bearer ${accessToken}` },
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, body: await res.text(), challenge: res.headers.get('www-authenticate') };
}

/** A Pangea admin call: POST /v2/... with the admin token. */
async function admin(path, body) {
  const res = await fetch(`${ISSUER}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const raw = await res.text();
  assert.equal(res.status, 200, `${path}: ${raw}`);
  return JSON.parse(raw);
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Asserts the ID-token claims every sign-in must carry. */
function assertIdTokenClaims(claims, { key, nonce, acr }) {
  const now = nowSeconds();
  assert.equal(claims.iss, ISSUER, 'iss is the issuer, exactly');
  assert.equal(typeof claims.sub, 'string');
  assert.ok(claims.sub.length > 0, 'sub');
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  assert.ok(aud.includes(client(key).client_id), `aud holds the client: ${JSON.stringify(claims.aud)}`);
  if (aud.length > 1) assert.equal(claims.azp, client(key).client_id, 'azp with several audiences');
  if (claims.azp !== undefined) assert.equal(claims.azp, client(key).client_id, 'azp is the client');
  assert.ok(Number.isInteger(claims.iat) && Math.abs(claims.iat - now) <= 60, `iat is now: ${claims.iat}`);
  assert.ok(Number.isInteger(claims.exp) && claims.exp > now, `exp is ahead: ${claims.exp}`);
  assert.ok(claims.exp - claims.iat <= 24 * 3600, 'an ID token lives a day at most');
  assert.ok(Number.isInteger(claims.auth_time), 'auth_time');
  assert.ok(claims.auth_time <= claims.iat + 1 && claims.auth_time > now - 3600, `auth_time: ${claims.auth_time}`);
  assert.equal(claims.nonce, nonce, 'nonce echoed');
  assert.equal(claims.acr, acr, 'acr');
  assert.ok(Array.isArray(claims.amr) && claims.amr.length > 0, `amr: ${JSON.stringify(claims.amr)}`);
  assert.equal(typeof claims.sid, 'string');
  assert.ok(claims.sid.length > 0, 'sid');
}

// ---- discovery ----

test('discovery and JWKS describe the provider; no ID token is ever unsigned', async () => {
  const res = await fetch(`${ISSUER}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(15_000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const d = await res.json();
  assert.equal(d.issuer, ISSUER, 'issuer = public_url, no trailing slash');
  assert.equal(d.authorization_endpoint, `${ISSUER}/oauth2/authorize`);
  assert.equal(d.token_endpoint, `${ISSUER}/oauth2/token`);
  assert.equal(d.userinfo_endpoint, `${ISSUER}/oauth2/userinfo`);
  assert.equal(d.introspection_endpoint, `${ISSUER}/oauth2/introspect`);
  assert.equal(d.revocation_endpoint, `${ISSUER}/oauth2/revoke`);
  assert.equal(d.end_session_endpoint, `${ISSUER}/oauth2/logout`);
  assert.equal(d.jwks_uri, `${ISSUER}/.well-known/jwks.json`);
  assert.deepEqual(d.response_types_supported, ['code'], 'code flow only');
  for (const m of ['query', 'form_post']) assert.ok(d.response_modes_supported?.includes(m), `response mode ${m}`);
  for (const g of ['authorization_code', 'refresh_token', 'client_credentials']) {
    assert.ok(d.grant_types_supported?.includes(g), `grant ${g}`);
  }
  for (const g of ['implicit', 'password']) assert.ok(!d.grant_types_supported.includes(g), `no ${g} grant`);
  assert.deepEqual(d.code_challenge_methods_supported, ['S256'], 'PKCE S256 only, never plain');
  for (const m of ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']) {
    assert.ok(d.token_endpoint_auth_methods_supported?.includes(m), `token endpoint auth ${m}`);
  }
  const algs = d.id_token_signing_alg_values_supported;
  for (const a of ['RS256', 'EdDSA', 'ES256']) assert.ok(algs?.includes(a), `ID-token alg ${a}`);
  assert.ok(!algs.some((a) => a.toLowerCase() === 'none'), `never "none": ${JSON.stringify(algs)}`);
  for (const s of ['openid', 'profile', 'email', 'groups', 'offline_access']) {
    assert.ok(d.scopes_supported?.includes(s), `scope ${s}`);
  }
  assert.ok(d.subject_types_supported?.includes('public'));
  assert.equal(d.authorization_response_iss_parameter_supported, true, 'RFC 9207');
  assert.ok(d.acr_values_supported?.includes(MFA), 'the second-factor acr');

  const jwks = await (await fetch(d.jwks_uri, { signal: AbortSignal.timeout(15_000) })).json();
  const kinds = jwks.keys.map((k) => `${k.kty}/${k.crv ?? ''}`);
  for (const kind of ['RSA/', 'OKP/Ed25519', 'EC/P-256']) assert.ok(kinds.includes(kind), `a ${kind} key: ${kinds}`);
  for (const k of jwks.keys) {
    assert.ok(k.kid, 'every key has a kid');
    for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.equal(k[secret], undefined, `no private ${secret}`);
  }

  // openid-client agrees with all of it (it refuses an issuer that does not match)
  const config = await rp('rp');
  assert.equal(config.serverMetadata().issuer, ISSUER);
});

// ---- the code flow ----

browserTest('code + PKCE + nonce: every ID-token claim, iss in the response, userinfo, form_post', async ({ page }) => {
  const me = user('oidc');
  // a group, so that the groups scope has something to say
  const profile = await admin('/v2/user/profile/get', { email: me.email });
  const groupName = `oidc-testers-${Math.random().toString(36).slice(2, 8)}`;
  const group = await admin('/v2/group/create', { name: groupName, type: 'test' });
  await admin('/v2/user/group/assign', { id: profile.result.id, group_ids: [group.result.id] });

  const config = await rp('rp');
  const req = await authRequest(config, 'rp', { scope: 'openid profile email groups offline_access' });
  assert.equal(req.url.origin + req.url.pathname, `${ISSUER}/oauth2/authorize`);

  const first = await page.goto(req.url.href);
  assert.equal(pathOf(page), '/login', 'not signed in: the hosted sign-in page');
  assert.equal(first.status(), 200);
  const redirect = first.request().redirectedFrom();
  assert.ok(redirect, 'the authorization endpoint redirected');
  assert.equal((await redirect.response()).status(), 303);
  await shot(page, 'oidc-login');
  const signedIn = await signIn(page, me.email, me.password);
  assert.equal(signedIn.status(), 303);
  const back = await landed(page, client('rp').redirect_uri);
  assert.equal(back.searchParams.get('iss'), ISSUER, 'iss in the authorization response (RFC 9207)');
  assert.equal(back.searchParams.get('state'), req.state);
  assert.ok(back.searchParams.get('code'), 'a code');
  assert.equal(back.searchParams.get('error'), null);
  assert.equal(hitsOn(client('rp').redirect_uri).at(-1).method, 'GET', 'response_mode query by default');

  const started = nowSeconds();
  const tokens = await oidc.authorizationCodeGrant(config, back, req.checks);
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.ok(tokens.access_token);
  assert.ok(tokens.expires_in > 0, `expires_in ${tokens.expires_in}`);
  assert.ok(tokens.refresh_token, 'offline_access: a refresh token');
  assert.notEqual(tokens.refresh_token, tokens.access_token);
  if (tokens.scope !== undefined) {
    // (RFC 6749 §5.1: may be left out when it is what was asked for)
    assert.deepEqual(new Set(tokens.scope.split(' ')), new Set(['openid', 'profile', 'email', 'groups', 'offline_access']));
  }
  const claims = tokens.claims();
  assertIdTokenClaims(claims, { key: 'rp', nonce: req.nonce, acr: PWD });
  assert.ok(claims.auth_time >= started - 30, 'auth_time is this sign-in');
  assert.ok(claims.amr.includes('pwd'), `amr pwd: ${claims.amr}`);
  const { header } = decodeJwt(tokens.id_token);
  assert.equal(header.alg, 'RS256', 'the client default: RS256');
  assert.ok(header.kid, 'a kid');

  // UserInfo: GET with the header (openid-client), POST with the header and in the body
  const info = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(info.sub, claims.sub);
  assert.equal(info.email, me.email);
  assert.equal(typeof info.email_verified, 'boolean');
  assert.equal(typeof info.preferred_username, 'string');
  assert.ok(info.preferred_username.length > 0, 'preferred_username');
  assert.ok(Number.isInteger(info.updated_at), `updated_at in seconds: ${info.updated_at}`);
  assert.ok(Array.isArray(info.groups), `groups: ${JSON.stringify(info.groups)}`);
  assert.ok(
    info.groups.includes(groupName) || info.groups.includes(group.result.id),
    `the user's group: ${JSON.stringify(info.groups)}`,
  );
  for (const [name, init] of [
    ['POST, header', { headers: { authorization: `Bearer ${tokens.access_token}` } }],
    [
      'POST, body',
      {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ access_token: tokens.access_token }).toString(),
      },
    ],
  ]) {
    const res = await fetch(`${ISSUER}/oauth2/userinfo`, { method: 'POST', ...init, signal: AbortSignal.timeout(15_000) });
    const body = await res.text();
    assert.equal(res.status, 200, `${name}: ${body}`);
    assert.deepEqual(JSON.parse(body), info, name);
  }
  // no bearer: 401 with a challenge
  const bare = await fetch(`${ISSUER}/oauth2/userinfo`, { signal: AbortSignal.timeout(15_000) });
  assert.equal(bare.status, 401);
  assert.match(bare.headers.get('www-authenticate') ?? '', /^Bearer/);

  // the OIDC sign-in is a session like any other: /account lists it
  await go(page, '/account');
  assert.equal(pathOf(page), '/account');
  assert.equal(await text(page, '#who'), me.email);

  // signed in now: response_mode=form_post, no sign-in page, the code POSTed
  const before = hitsOn(client('rp').redirect_uri).length;
  const post = await authRequest(config, 'rp', { response_mode: 'form_post' });
  await page.goto(post.url.href);
  await landed(page, client('rp').redirect_uri);
  const posts = hitsOn(client('rp').redirect_uri).slice(before);
  assert.equal(posts.length, 1, 'one callback');
  assert.equal(posts[0].method, 'POST', 'form_post');
  assert.equal(new URL(posts[0].url).search, '', 'nothing in the query');
  const form = new URLSearchParams(posts[0].body);
  assert.equal(form.get('state'), post.state);
  assert.equal(form.get('iss'), ISSUER);
  assert.ok(form.get('code'));
  const request = new Request(posts[0].url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: posts[0].body,
  });
  const posted = await oidc.authorizationCodeGrant(config, request, post.checks);
  assert.equal(posted.claims().sub, claims.sub, 'the same user');
  // sid names the client's session (what its tokens stand on): each
  // authorization opens one, so it is present but not the earlier one's.
  assert.ok(posted.claims().sid, 'a session id');
  assert.equal(posted.claims().auth_time, claims.auth_time, 'no new sign-in');
});

browserTest('prompt=none: login_required without a session, a code without any page with one', async ({ page }) => {
  const me = user('oidcprompt');
  const config = await rp('rp');
  const redirectUri = client('rp').redirect_uri;

  const none = await authRequest(config, 'rp', { prompt: 'none' });
  await page.goto(none.url.href);
  const refused = await landed(page, redirectUri);
  assert.equal(refused.searchParams.get('error'), 'login_required');
  assert.equal(refused.searchParams.get('state'), none.state);
  assert.equal(refused.searchParams.get('iss'), ISSUER);
  assert.equal(refused.searchParams.get('code'), null);
  // openid-client reads it as the error it is
  const err = await rejection(oidc.authorizationCodeGrant(config, refused, none.checks), 'login_required');
  assert.equal(err.error, 'login_required', String(err));

  // sign in on the hosted page, then prompt=none goes straight back with a code
  await go(page, '/login');
  await signIn(page, me.email, me.password);
  assert.equal(pathOf(page), '/account');
  const visited = [];
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) visited.push(f.url());
  });
  const silent = await authRequest(config, 'rp', { prompt: 'none' });
  await page.goto(silent.url.href);
  const back = await landed(page, redirectUri);
  assert.deepEqual(
    visited.filter((u) => !u.startsWith(redirectUri)),
    [],
    'no page of the provider was shown',
  );
  const tokens = await oidc.authorizationCodeGrant(config, back, silent.checks);
  assertIdTokenClaims(tokens.claims(), { key: 'rp', nonce: silent.nonce, acr: PWD });
});

browserTest('prompt=login and max_age=0 ask for the password again; auth_time moves; login_hint fills the form', async ({ page }) => {
  const me = user('oidcreauth');
  const config = await rp('rp');
  const redirectUri = client('rp').redirect_uri;

  const firstReq = await authRequest(config, 'rp', { login_hint: me.email });
  await page.goto(firstReq.url.href);
  assert.equal(pathOf(page), '/login');
  assert.equal(await page.inputValue('#identifier'), me.email, 'login_hint fills the identifier');
  await signIn(page, me.email, me.password);
  const first = (await oidc.authorizationCodeGrant(config, await landed(page, redirectUri), firstReq.checks)).claims();

  // auth_time counts seconds: let one pass
  await sleep(1500);
  const loginReq = await authRequest(config, 'rp', { prompt: 'login' });
  await page.goto(loginReq.url.href);
  assert.equal(pathOf(page), '/login', 'prompt=login: the sign-in page although signed in');
  await shot(page, 'oidc-prompt-login');
  await signIn(page, me.email, me.password);
  const second = (await oidc.authorizationCodeGrant(config, await landed(page, redirectUri), loginReq.checks)).claims();
  assert.ok(second.auth_time > first.auth_time, `auth_time moved: ${first.auth_time} → ${second.auth_time}`);
  assert.equal(second.sub, first.sub);

  await sleep(1500);
  const maxAgeReq = await authRequest(config, 'rp', { max_age: '0' });
  await page.goto(maxAgeReq.url.href);
  assert.equal(pathOf(page), '/login', 'max_age=0: the sign-in page although signed in');
  await signIn(page, me.email, me.password);
  const third = (
    await oidc.authorizationCodeGrant(config, await landed(page, redirectUri), { ...maxAgeReq.checks, maxAge: 0 })
  ).claims();
  assert.ok(third.auth_time > second.auth_time, `auth_time moved: ${second.auth_time} → ${third.auth_time}`);

  // a generous max_age: no page, the same auth_time
  const lenientReq = await authRequest(config, 'rp', { max_age: '3600' });
  await page.goto(lenientReq.url.href);
  const fourth = (
    await oidc.authorizationCodeGrant(config, await landed(page, redirectUri), { ...lenientReq.checks, maxAge: 3600 })
  ).claims();
  assert.equal(fourth.auth_time, third.auth_time);
});

browserTest('a TOTP user asked for acr urn:aegis:acr:mfa: second-factor page, acr mfa', async ({ page }) => {
  const me = user('oidctotp');
  const config = await rp('rp');
  const redirectUri = client('rp').redirect_uri;

  // enroll TOTP on the account page (on the issuer's host), then sign out
  await go(page, '/login');
  await signIn(page, me.email, me.password);
  assert.equal(pathOf(page), '/account');
  await submit(page, '#totp-begin');
  const secret = await text(page, '#totp-secret');
  const confirmedStep = stepAt();
  await page.fill('#totp-code', totp(secret, confirmedStep));
  await submit(page, '#totp-confirm');
  assert.match(await text(page, '#factors'), /Authenticator app/);
  await submit(page, '#sign-out');
  assert.equal(pathOf(page), '/login');

  const req = await authRequest(config, 'rp', { acr_values: MFA });
  await page.goto(req.url.href);
  assert.equal(pathOf(page), '/login');
  await signIn(page, me.email, me.password);
  assert.ok(await page.isVisible('form#otp-form'), 'the second-factor form');
  await shot(page, 'oidc-otp');
  await page.fill('#otp', totp(secret, Math.max(stepAt(), confirmedStep + 1)));
  await submit(page, '#verify');
  const back = await landed(page, redirectUri);
  const tokens = await oidc.authorizationCodeGrant(config, back, req.checks);
  const claims = tokens.claims();
  assertIdTokenClaims(claims, { key: 'rp', nonce: req.nonce, acr: MFA });
  // aegis records that a second factor was proved, not which: amr says mfa.
  assert.ok(claims.amr.includes('mfa') && !claims.amr.includes('pwd'), `amr mfa: ${claims.amr}`);
});

browserTest('a passkey sign-in for a client: acr mfa', async ({ page }) => {
  const me = user('oidcpasskey');
  const config = await rp('rp');
  const redirectUri = client('rp').redirect_uri;

  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  await go(page, '/login');
  await signIn(page, me.email, me.password);
  await page.fill('#passkey-name', 'OIDC key');
  const added = page.waitForURL(/\/account\?passkey=added$/);
  await page.click('#passkey-add');
  await added;
  await submit(page, '#sign-out');

  const req = await authRequest(config, 'rp', { acr_values: MFA });
  await page.goto(req.url.href);
  assert.equal(pathOf(page), '/login');
  await page.fill('#identifier', '');
  await page.click('#passkey-sign-in');
  const back = await landed(page, redirectUri);
  const claims = (await oidc.authorizationCodeGrant(config, back, req.checks)).claims();
  assertIdTokenClaims(claims, { key: 'rp', nonce: req.nonce, acr: MFA });
  assert.ok(!claims.amr.includes('otp'), `no otp: ${claims.amr}`);
});

browserTest('consent: deny, allow, remembered, revoked on /account, asked again', async ({ page }) => {
  const me = user('oidcconsent');
  const c = client('consent');
  const config = await rp('consent');
  const scope = 'openid profile email';

  const denyReq = await authRequest(config, 'consent', { scope });
  await page.goto(denyReq.url.href);
  assert.equal(pathOf(page), '/login');
  await signIn(page, me.email, me.password);
  assert.ok(await page.isVisible('#allow'), 'the consent page');
  assert.equal(await text(page, '#allow'), 'Allow');
  assert.equal(await text(page, '#deny'), 'Deny');
  assert.ok((await page.textContent('body')).includes(c.name), 'the consent page names the client');
  await shot(page, 'oidc-consent');
  await page.click('#deny');
  const denied = await landed(page, c.redirect_uri);
  assert.equal(denied.searchParams.get('error'), 'access_denied');
  assert.equal(denied.searchParams.get('state'), denyReq.state);
  assert.equal(denied.searchParams.get('iss'), ISSUER);
  assert.equal(denied.searchParams.get('code'), null);
  const err = await rejection(oidc.authorizationCodeGrant(config, denied, denyReq.checks), 'access_denied');
  assert.equal(err.error, 'access_denied');

  // a refusal is not remembered: asked again, allowed this time
  const allowReq = await authRequest(config, 'consent', { scope });
  await page.goto(allowReq.url.href);
  assert.ok(await page.isVisible('#allow'), 'asked again after a refusal');
  await page.click('#allow');
  const allowed = await landed(page, c.redirect_uri);
  const claims = (await oidc.authorizationCodeGrant(config, allowed, allowReq.checks)).claims();
  assertIdTokenClaims(claims, { key: 'consent', nonce: allowReq.nonce, acr: PWD });

  // remembered: the same scopes go straight back
  const againReq = await authRequest(config, 'consent', { scope });
  await page.goto(againReq.url.href);
  const again = await landed(page, c.redirect_uri);
  assert.ok(again.searchParams.get('code'), 'no consent page the second time');
  await oidc.authorizationCodeGrant(config, again, againReq.checks);

  // a new scope is asked for
  const moreReq = await authRequest(config, 'consent', { scope: `${scope} groups` });
  await page.goto(moreReq.url.href);
  assert.ok(await page.isVisible('#allow'), 'a new scope needs consent');
  await page.click('#allow');
  await oidc.authorizationCodeGrant(config, await landed(page, c.redirect_uri), moreReq.checks);

  // listed under "Applications" on /account, and revocable there
  await go(page, '/account');
  const body = await page.textContent('body');
  assert.ok(body.includes('Applications'), 'an Applications section');
  assert.ok(body.includes(c.name), 'the client is listed');
  const revoke = `#revoke-${c.client_id}`;
  assert.ok(await page.isVisible(revoke), `a ${revoke} button`);
  await shot(page, 'oidc-account-applications');
  await submit(page, revoke);
  assert.ok((await page.textContent('body')).includes('Access withdrawn'), 'the account page says so');
  assert.equal(await page.$(revoke), null, 'revoked: no longer listed');

  const afterReq = await authRequest(config, 'consent', { scope });
  await page.goto(afterReq.url.href);
  assert.ok(await page.isVisible('#allow'), 'asked again after revoking');
  assert.ok(pathOf(page) !== new URL(c.redirect_uri).pathname);
});

browserTest('SSO: a sign-in on /login serves two clients without another sign-in', async ({ page }) => {
  const me = user('oidcsso');
  await go(page, '/login');
  await signIn(page, me.email, me.password);
  assert.equal(pathOf(page), '/account');

  const subs = [];
  for (const key of ['rp', 'rp2']) {
    const config = await rp(key);
    const req = await authRequest(config, key, { scope: 'openid email' });
    const res = await page.goto(req.url.href);
    const back = await landed(page, client(key).redirect_uri);
    assert.equal(res.status(), 200, 'the callback page');
    const claims = (await oidc.authorizationCodeGrant(config, back, req.checks)).claims();
    assertIdTokenClaims(claims, { key, nonce: req.nonce, acr: PWD });
    subs.push(claims.sub);
  }
  assert.equal(subs[0], subs[1], 'the same sub at both clients');
});

browserTest('RP-initiated logout: with a hint back to the client with state; without, a confirmation page', async ({ page }) => {
  const me = user('oidclogout');
  const c = client('rp');
  const config = await rp('rp');
  await page.route('**://evil.example/**', (route) => route.abort());

  const req = await authRequest(config, 'rp', { scope: 'openid' });
  const tokens = await oidc.authorizationCodeGrant(config, await authorizeWithPassword(page, 'rp', req, me), req.checks);
  assert.equal((await userinfoStatus(tokens.access_token)).status, 200);

  // an unregistered post_logout_redirect_uri is never followed, even with a valid hint
  const evil = oidc.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: EVIL,
    state: 'x',
  });
  await page.goto(evil.href).catch(() => {});
  assert.ok(page.url().startsWith(ISSUER), `stayed on the provider: ${page.url()}`);

  const state = oidc.randomState();
  const out = oidc.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: c.post_logout_redirect_uri,
    state,
  });
  assert.equal(out.origin + out.pathname, `${ISSUER}/oauth2/logout`);
  await page.goto(out.href);
  const loggedOut = await landed(page, c.post_logout_redirect_uri);
  assert.equal(loggedOut.searchParams.get('state'), state);

  // the session is gone: prompt=none answers login_required, its tokens are dead
  const none = await authRequest(config, 'rp', { prompt: 'none' });
  await page.goto(none.url.href);
  assert.equal((await landed(page, c.redirect_uri)).searchParams.get('error'), 'login_required');
  assert.equal((await userinfoStatus(tokens.access_token)).status, 401, 'the session’s access token is refused');

  // without a hint: a confirmation page, whose button ends the session
  const req2 = await authRequest(config, 'rp', { scope: 'openid' });
  await oidc.authorizationCodeGrant(config, await authorizeWithPassword(page, 'rp', req2, me), req2.checks);
  const bare = oidc.buildEndSessionUrl(config, {});
  const confirm = await page.goto(bare.href);
  assert.equal(confirm.status(), 200);
  assert.ok(page.url().startsWith(ISSUER), 'a page of the provider');
  assert.equal(await text(page, '#sign-out'), 'Sign out');
  await shot(page, 'oidc-logout-confirm');
  await submit(page, '#sign-out');
  const none2 = await authRequest(config, 'rp', { prompt: 'none' });
  await page.goto(none2.url.href);
  assert.equal((await landed(page, c.redirect_uri)).searchParams.get('error'), 'login_required');
});

browserTest('refused: unregistered or altered redirect URI and unknown client get a 400 page, never a redirect', async ({ page }) => {
  const config = await rp('rp');
  const c = client('rp');
  const offsite = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(ISSUER + '/')) offsite.push(r.url());
  });
  await page.route('**://evil.example/**', (route) => route.abort());

  const before = hits.length;
  const cases = [
    ['unregistered', { redirect_uri: EVIL }],
    ['altered path', { redirect_uri: `${c.redirect_uri}/more` }],
    ['altered scheme', { redirect_uri: c.redirect_uri.replace('http:', 'https:') }],
    ['another client’s', { redirect_uri: client('rp2').redirect_uri }],
    ['unknown client', { client_id: 'no-such-client' }],
    ['no client', { client_id: null }],
  ];
  for (const [name, params] of cases) {
    const req = await authRequest(config, 'rp', params);
    const res = await page.goto(req.url.href);
    assert.equal(res.status(), 400, `${name}: status`);
    assert.equal(res.request().redirectedFrom(), null, `${name}: no redirect`);
    assert.equal(pathOf(page), '/oauth2/authorize', `${name}: still at the provider`);
    assert.equal(await page.$('form#login-form'), null, `${name}: no sign-in form`);
  }
  await shot(page, 'oidc-bad-redirect');
  assert.deepEqual(hits.slice(before), [], 'no callback was reached');
  assert.deepEqual(offsite, [], 'no request left the provider');
});

browserTest('refused: PKCE mismatch, plain PKCE, public client without PKCE, reused code, code of another client, wrong secret', async ({ page }) => {
  const me = user('oidcrefuse');
  const config = await rp('rp');
  const redirectUri = client('rp').redirect_uri;

  // PKCE mismatch: invalid_grant
  const mismatch = await authRequest(config, 'rp');
  const mismatchBack = await authorizeWithPassword(page, 'rp', mismatch, me);
  await refused(
    oidc.authorizationCodeGrant(config, mismatchBack, { ...mismatch.checks, pkceCodeVerifier: oidc.randomPKCECodeVerifier() }),
    'invalid_grant',
    'PKCE mismatch',
    400,
  );

  // plain PKCE: an error at the redirect URI, no code
  const plainVerifier = oidc.randomPKCECodeVerifier();
  const plain = await authRequest(config, 'rp', { code_challenge: plainVerifier, code_challenge_method: 'plain' });
  await page.goto(plain.url.href);
  const plainBack = await landed(page, redirectUri);
  assert.equal(plainBack.searchParams.get('error'), 'invalid_request', plainBack.href);
  assert.equal(plainBack.searchParams.get('code'), null);
  assert.equal(plainBack.searchParams.get('state'), plain.state);

  // a public client: PKCE required; with it, token auth none works
  const pub = await rp('public', { auth: 'none' });
  const noPkce = await authRequest(pub, 'public', { code_challenge: null, code_challenge_method: null });
  await page.goto(noPkce.url.href);
  const noPkceBack = await landed(page, client('public').redirect_uri);
  assert.equal(noPkceBack.searchParams.get('error'), 'invalid_request', noPkceBack.href);
  assert.equal(noPkceBack.searchParams.get('code'), null);
  const pubReq = await authRequest(pub, 'public');
  await page.goto(pubReq.url.href);
  const pubTokens = await oidc.authorizationCodeGrant(pub, await landed(page, client('public').redirect_uri), pubReq.checks);
  assertIdTokenClaims(pubTokens.claims(), { key: 'public', nonce: pubReq.nonce, acr: PWD });

  // a reused code: invalid_grant, and what the first use issued is revoked
  const once = await authRequest(config, 'rp', { scope: 'openid offline_access' });
  await page.goto(once.url.href);
  const onceBack = await landed(page, redirectUri);
  const firstUse = await oidc.authorizationCodeGrant(config, onceBack, once.checks);
  assert.equal((await userinfoStatus(firstUse.access_token)).status, 200);
  await refused(oidc.authorizationCodeGrant(config, onceBack, once.checks), 'invalid_grant', 'reused code', 400);
  const dead = await userinfoStatus(firstUse.access_token);
  assert.equal(dead.status, 401, `the first use's access token is revoked: ${dead.body}`);
  assert.match(dead.challenge ?? '', /invalid_token/);
  await refused(oidc.refreshTokenGrant(config, firstUse.refresh_token), 'invalid_grant', 'refresh after reuse');

  // client A's code at client B
  const a = await authRequest(config, 'rp');
  await page.goto(a.url.href);
  const aBack = await landed(page, redirectUri);
  const rp2 = await rp('rp2');
  await refused(oidc.authorizationCodeGrant(rp2, aBack, a.checks), 'invalid_grant', 'code of another client');

  // a wrong secret: invalid_client, 401 (basic and post)
  for (const auth of ['basic', 'post']) {
    const wrong = await rp('rp', { auth, secret: 'not-the-secret' });
    const w = await authRequest(wrong, 'rp');
    await page.goto(w.url.href);
    const wBack = await landed(page, redirectUri);
    await refused(oidc.authorizationCodeGrant(wrong, wBack, w.checks), 'invalid_client', `wrong secret (${auth})`, 401);
  }
  // the right secret, client_secret_post
  const okPost = await rp('rp', { auth: 'post' });
  const p = await authRequest(okPost, 'rp');
  await page.goto(p.url.href);
  await oidc.authorizationCodeGrant(okPost, await landed(page, redirectUri), p.checks);
});

browserTest('an inactive user: tokens refused, refresh refused, no new sign-in', async ({ page, newPage }) => {
  const me = user('oidcinactive');
  const config = await rp('rp');
  const req = await authRequest(config, 'rp', { scope: 'openid offline_access' });
  const tokens = await oidc.authorizationCodeGrant(config, await authorizeWithPassword(page, 'rp', req, me), req.checks);
  assert.equal((await userinfoStatus(tokens.access_token)).status, 200);

  const updated = await admin('/v2/user/update', { email: me.email, disabled: true });
  assert.equal(updated.result.disabled, true);

  assert.equal((await userinfoStatus(tokens.access_token)).status, 401, 'access token refused');
  await refused(oidc.refreshTokenGrant(config, tokens.refresh_token), 'invalid_grant', 'refresh of an inactive user');
  const none = await authRequest(config, 'rp', { prompt: 'none' });
  await page.goto(none.url.href);
  assert.equal((await landed(page, client('rp').redirect_uri)).searchParams.get('error'), 'login_required');

  const other = await newPage();
  const again = await authRequest(config, 'rp');
  await other.goto(again.url.href);
  assert.equal(pathOf(other), '/login');
  await signIn(other, me.email, me.password);
  assert.equal(pathOf(other), '/login', 'no sign-in for an inactive user');
  assert.ok(!other.url().startsWith(client('rp').redirect_uri));
  await shot(other, 'oidc-inactive');
});

browserTest('ID tokens are signed with the client’s algorithm (RS256, EdDSA, ES256), checked against the JWKS', async ({ page }) => {
  const me = user('oidcalg');
  await go(page, '/login');
  await signIn(page, me.email, me.password);
  const jwks = await (await fetch(`${ISSUER}/.well-known/jwks.json`, { signal: AbortSignal.timeout(15_000) })).json();
  for (const [key, alg] of [['rs256', 'RS256'], ['eddsa', 'EdDSA'], ['es256', 'ES256']]) {
    // openid-client refuses any other alg than the one expected, and checks the
    // signature with the JWKS key (enableNonRepudiationChecks)
    const config = await rp(key, { alg });
    const req = await authRequest(config, key);
    await page.goto(req.url.href);
    const tokens = await oidc.authorizationCodeGrant(config, await landed(page, client(key).redirect_uri), req.checks);
    const { header } = decodeJwt(tokens.id_token);
    assert.equal(header.alg, alg, `${key}: header alg`);
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    assert.ok(jwk, `${key}: the kid is in the JWKS`);
    assert.equal(jwk.kty, { RS256: 'RSA', EdDSA: 'OKP', ES256: 'EC' }[alg]);
    assertIdTokenClaims(tokens.claims(), { key, nonce: req.nonce, acr: PWD });

    // another alg expected: openid-client refuses this ID token
    const wrongAlg = alg === 'RS256' ? 'ES256' : 'RS256';
    const strict = await rp(key, { alg: wrongAlg });
    const req2 = await authRequest(strict, key);
    await page.goto(req2.url.href);
    const e = await rejection(
      oidc.authorizationCodeGrant(strict, await landed(page, client(key).redirect_uri), req2.checks),
      `${key}: ${wrongAlg} expected`,
    );
    // (openid-client wraps oauth4webapi's 'unexpected JWT "alg" header parameter')
    assert.match(`${e.message} ${e.cause?.message}`, /"alg"/, String(e));
  }
});
