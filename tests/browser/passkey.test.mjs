// Passkeys in Chromium's virtual authenticator (DevTools WebAuthn domain): register
// one on the account page, then sign in with it and no password. WebAuthn needs a
// domain as its relying party, so these pages are opened on localhost.
import assert from 'node:assert/strict';
import { browserTest, user, signIn, submit, pathOf, text, shot, BASE } from './lib.mjs';

const ORIGIN = (process.env.AEGIS_PASSKEY_URL || BASE).replace(/\/$/, '');

/** Gives a page a platform authenticator with user verification. */
async function authenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

browserTest('register a passkey, then sign in with it and no password', async ({ page, newPage }) => {
  const me = user('passkey');
  const { cdp, authenticatorId } = await authenticator(page);

  await page.goto(`${ORIGIN}/login`);
  const first = await signIn(page, me.email, me.password);
  assert.equal(first.status(), 303);
  assert.equal(pathOf(page), '/account');

  await page.fill('#passkey-name', 'Test key');
  const added = page.waitForURL(/\/account\?passkey=added$/);
  await page.click('#passkey-add');
  await added;
  assert.match(await text(page, '#factors'), /Passkey “Test key”/);
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1, 'the authenticator holds one credential');
  await shot(page, 'account-passkey');

  // A password alone no longer opens an API session: the passkey is a second factor.
  const api = await fetch(`${BASE}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: me.email, password: me.password }),
  });
  assert.equal(api.status, 401);

  const out = await submit(page, '#sign-out');
  assert.equal(out.status(), 303);
  assert.equal(pathOf(page), '/login');

  // Sign in with the passkey and no identifier at all: the browser offers
  // the discoverable credential, which names the account.
  await page.fill('#identifier', '');
  const bare = page.waitForURL(/\/account$/);
  await page.click('#passkey-sign-in');
  await bare;
  assert.equal(await text(page, '#who'), me.email);
  const outAgain = await submit(page, '#sign-out');
  assert.equal(outAgain.status(), 303);

  // Identifier first: the identifier, then the passkey, no password.
  await page.fill('#identifier', me.email);
  const finish = page.waitForRequest((r) => r.url().endsWith('/login/passkey/finish'));
  const signedIn = page.waitForURL(/\/account$/);
  await page.click('#passkey-sign-in');
  const sent = new URLSearchParams((await finish).postData());
  await signedIn;
  assert.equal(await text(page, '#who'), me.email);
  const after = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.ok(after.credentials[0].signCount >= 1, 'the credential signed');

  // The same answer sent again (a replay) opens no second session: its
  // ceremony is spent, and the stored signature counter has moved on.
  const csrf = (await page.context().cookies()).find((c) => c.name === 'aegis_csrf').value;
  sent.set('csrf', csrf);
  const replay = await page.request.post(`${ORIGIN}/login/passkey/finish`, {
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    data: sent.toString(),
  });
  assert.equal(replay.status(), 401, await replay.text());
  // The ceremony's state has one spelling: nothing in the clear to respell.
  assert.ok(!sent.get('ceremony').includes('.'), sent.get('ceremony'));

  // Another browser, whose authenticator holds another account's passkey.
  const mine2 = user('passkey2');
  const other = await newPage();
  await authenticator(other);
  await other.goto(`${ORIGIN}/login`);
  await signIn(other, mine2.email, mine2.password);
  await other.fill('#passkey-name', 'Other key');
  const added2 = other.waitForURL(/\/account\?passkey=added$/);
  await other.click('#passkey-add');
  await added2;
  await submit(other, '#sign-out');
  // Typing this account's identifier does not sign the other one in, nor this
  // one: the passkey must be the typed account's.
  await other.fill('#identifier', me.email);
  await other.click('#passkey-sign-in');
  await other.waitForFunction(() =>
    document.getElementById('error')?.textContent.includes('No passkey sign-in'),
  );
  assert.equal(pathOf(other), '/login');
  await shot(other, 'passkey-refused');
  // An unknown account is answered alike.
  await other.evaluate(() => document.getElementById('error').remove());
  await other.fill('#identifier', 'nobody@example.com');
  await other.click('#passkey-sign-in');
  await other.waitForFunction(() =>
    document.getElementById('error')?.textContent.includes('No passkey sign-in'),
  );
  // Without an identifier, its own passkey signs its own account in.
  await other.fill('#identifier', '');
  const own = other.waitForURL(/\/account$/);
  await other.click('#passkey-sign-in');
  await own;
  assert.equal(await text(other, '#who'), mine2.email);
});
