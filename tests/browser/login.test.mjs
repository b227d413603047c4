// Password sign-in to the account page, then sign-out.
import assert from 'node:assert/strict';
import { browserTest, user, open, signIn, submit, pathOf, text, shot } from './lib.mjs';

browserTest('sign in with the right password, see the account page, sign out', async ({ page }) => {
  const me = user('login');

  const first = await open(page, '/login');
  assert.equal(first.status(), 200);
  assert.equal(await page.title(), 'Sign in · aegis');
  await page.waitForSelector('form#login-form');
  // the form carries a CSRF token (also set as a cookie) and empty return fields
  assert.match(await page.inputValue('#login-form input[name=csrf]'), /^[A-Za-z0-9_-]{16,64}$/);
  assert.equal(await page.inputValue('#login-form input[name=redirect_uri]'), '');
  assert.equal(await page.inputValue('#login-form input[name=state]'), '');
  const cookies = await page.context().cookies();
  const csrf = cookies.find((c) => c.name === 'aegis_csrf');
  assert.ok(csrf, 'aegis_csrf cookie set');
  assert.equal(csrf.httpOnly, true);
  assert.equal(csrf.sameSite, 'Lax');
  assert.equal(await page.isVisible('#error'), false);
  await shot(page, 'login');

  const res = await signIn(page, me.email, me.password);
  assert.equal(res.status(), 303, 'the form post redirects');
  assert.equal(pathOf(page), '/account');
  assert.equal(await text(page, '#who'), me.email);
  assert.match(await text(page, '#sessions'), /\(this one\)/);
  assert.equal(await text(page, '#recovery-left'), '0');
  const session = (await page.context().cookies()).find((c) => c.name === 'aegis_session');
  assert.ok(session, 'aegis_session cookie set');
  assert.equal(session.httpOnly, true);
  await shot(page, 'account');

  const out = await submit(page, '#sign-out');
  assert.equal(out.status(), 303);
  assert.equal(pathOf(page), '/login');
  assert.ok(await page.isVisible('form#login-form'));
  assert.equal(
    (await page.context().cookies()).find((c) => c.name === 'aegis_session'),
    undefined,
    'the session cookie is gone',
  );

  // signed out: the account page sends the browser to the sign-in page
  const again = await open(page, '/account');
  assert.equal(pathOf(page), '/login');
  assert.equal(again.status(), 200);
  const redirect = again.request().redirectedFrom();
  assert.ok(redirect, '/account redirected');
  assert.equal(new URL(redirect.url()).pathname, '/account');
  assert.equal((await redirect.response()).status(), 303);
});
