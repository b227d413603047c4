// Sign-in for a registered application: back to it with a one-time login code,
// which the application exchanges on Pangea's /v2/client/userinfo.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { browserTest, user, open, signIn, pathOf, api, BASE, CALLBACK_URL } from './lib.mjs';

/** The application's callback: records every query, answers 200 "ok". */
async function callbackServer() {
  const url = new URL(CALLBACK_URL);
  const hits = [];
  const server = createServer((req, res) => {
    const u = new URL(req.url, url);
    hits.push({ method: req.method, path: u.pathname, query: Object.fromEntries(u.searchParams) });
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(url.port), url.hostname, resolve);
  });
  return {
    hits,
    close: () => new Promise((r) => {
      server.close(r);
      server.closeAllConnections();
    }),
  };
}

browserTest('sign in for an application, exchange its code for tokens once', async ({ page }) => {
  const me = user('code');
  const callback = await callbackServer();
  try {
    const state = randomBytes(12).toString('base64url');
    const first = await open(
      page,
      `/login?redirect_uri=${encodeURIComponent(CALLBACK_URL)}&state=${encodeURIComponent(state)}`,
    );
    assert.equal(first.status(), 200);
    assert.equal(await page.inputValue('#login-form input[name=redirect_uri]'), CALLBACK_URL);
    assert.equal(await page.inputValue('#login-form input[name=state]'), state);

    const res = await signIn(page, me.email, me.password);
    assert.equal(res.status(), 303);
    const landed = new URL(page.url());
    assert.equal(landed.origin + landed.pathname, CALLBACK_URL, 'back at the application');
    assert.equal(await page.textContent('body'), 'ok');
    const code = landed.searchParams.get('code');
    assert.match(code ?? '', /^pmc_[a-z2-7]{32}$/);
    assert.equal(landed.searchParams.get('state'), state);
    // (the browser may also ask the application's server for /favicon.ico)
    const calls = callback.hits.filter((h) => h.path === '/callback');
    assert.deepEqual(calls, [{ method: 'GET', path: '/callback', query: { code, state } }]);

    const exchanged = await api('POST', '/v2/client/userinfo', { code });
    assert.equal(exchanged.status, 200, exchanged.raw);
    assert.equal(exchanged.json.status, 'Success', exchanged.raw);
    const active = exchanged.json.result?.active_token;
    const refresh = exchanged.json.result?.refresh_token;
    assert.ok(active?.token, `an active token: ${exchanged.raw}`);
    assert.ok(refresh?.token, `a refresh token: ${exchanged.raw}`);
    assert.notEqual(active.token, refresh.token);

    const meRes = await fetch(`${BASE}/auth/me`, {
      headers: { authorization: `Bearer ${active.token}` },
      signal: AbortSignal.timeout(15_000),
    });
    const meBody = await meRes.text();
    assert.equal(meRes.status, 200, meBody);
    assert.ok(meBody.includes(me.email), `/auth/me names the user: ${meBody}`);

    const again = await api('POST', '/v2/client/userinfo', { code });
    assert.equal(again.status, 400, again.raw);
    assert.equal(again.json?.status, 'InvalidCode', again.raw);
  } finally {
    await callback.close();
  }
});
