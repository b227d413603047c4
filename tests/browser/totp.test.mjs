// TOTP enrollment on the account page, recovery codes, the second-factor sign-in
// and replay refusal.
import assert from 'node:assert/strict';
import { browserTest, user, open, signIn, submit, pathOf, text, shot, INVALID } from './lib.mjs';
import { totp, stepAt } from './totp.mjs';

/** A 6-digit code that no step near now accepts. */
function wrongCode(secret) {
  const now = stepAt();
  const near = new Set([-2, -1, 0, 1, 2].map((d) => totp(secret, now + d)));
  for (let n = 0; ; n++) {
    const c = String((Number(totp(secret, now)) + 500_000 + n) % 1_000_000).padStart(6, '0');
    if (!near.has(c)) return c;
  }
}

browserTest('enroll TOTP, then sign in with its code; a used code is refused', async ({ page, newPage }) => {
  const me = user('totp');
  await open(page, '/login');
  await signIn(page, me.email, me.password);
  assert.equal(pathOf(page), '/account');
  assert.match(await text(page, '#factors'), /None yet\./);

  // enrollment: a QR code and the key, confirmed with the current code
  const begun = await submit(page, '#totp-begin');
  assert.equal(begun.status(), 200);
  assert.ok(await page.isVisible('#totp-enroll .qr svg'), 'QR code shown');
  const secret = await text(page, '#totp-secret');
  assert.match(secret, /^[A-Z2-7]{32}$/, 'a 160-bit base32 key');
  await shot(page, 'account-totp-qr');
  const confirmedStep = stepAt();
  await page.fill('#totp-code', totp(secret, confirmedStep));
  const confirmed = await submit(page, '#totp-confirm');
  assert.equal(confirmed.status(), 200);
  assert.match(await text(page, '#notice'), /^Authenticator app added\./);
  assert.equal(await page.$('#totp-enroll'), null, 'enrollment done');
  assert.match(await text(page, '#factors'), /Authenticator app/);

  // recovery codes: ten, shown once
  const generated = await submit(page, '#recovery-new');
  assert.equal(generated.status(), 200);
  const codes = (await page.$$eval('#recovery-codes ul.codes li', (lis) => lis.map((li) => li.textContent.trim())));
  assert.equal(codes.length, 10);
  for (const c of codes) assert.match(c, /^[a-z2-7]{5}-[a-z2-7]{5}$/);
  assert.equal(new Set(codes).size, 10);
  assert.equal(await text(page, '#recovery-left'), '10');
  await shot(page, 'recovery-codes');
  await open(page, '/account');
  assert.equal(await page.$('ul.codes'), null, 'recovery codes are not shown again');

  await submit(page, '#sign-out');
  assert.equal(pathOf(page), '/login');

  // the password alone now leads to the second-factor page
  const pw = await signIn(page, me.email, me.password);
  assert.equal(pw.status(), 200);
  assert.equal(pathOf(page), '/login');
  assert.ok(await page.isVisible('form#otp-form'), 'second-factor form');
  assert.equal(await page.title(), 'Second factor · aegis');
  assert.equal(await page.$('#error'), null);
  assert.match(await page.inputValue('#otp-form input[name=ticket]'), /^[A-Za-z0-9_-]+$/);
  await shot(page, 'otp');

  const wrong = wrongCode(secret);
  await page.fill('#otp', wrong);
  const refused = await submit(page, '#verify');
  assert.equal(refused.status(), 401);
  assert.equal(pathOf(page), '/login/otp');
  assert.equal(await text(page, '#error'), INVALID);
  assert.ok(await page.isVisible('form#otp-form'), 'the form again');
  await shot(page, 'otp-error');

  // the confirming code's step is used up: take the next one (one step of skew
  // is accepted), or the current one if time has moved on since
  const loginStep = Math.max(stepAt(), confirmedStep + 1);
  const code = totp(secret, loginStep);
  await page.fill('#otp', code);
  const passed = await submit(page, '#verify');
  assert.equal(passed.status(), 303);
  assert.equal(pathOf(page), '/account');
  assert.equal(await text(page, '#who'), me.email);

  // replay: the code just accepted, in a fresh browser, is refused
  const other = await newPage();
  await open(other, '/login');
  await signIn(other, me.email, me.password);
  assert.ok(await other.isVisible('form#otp-form'), 'second-factor form (second browser)');
  await other.fill('#otp', code);
  const replay = await submit(other, '#verify');
  assert.equal(replay.status(), 401, 'a used TOTP code is refused');
  assert.equal(await text(other, '#error'), INVALID);
  assert.equal(
    (await other.context().cookies()).find((c) => c.name === 'aegis_session'),
    undefined,
    'no session from a replayed code',
  );

  // a recovery code works in its place, once
  await other.fill('#otp', codes[0].toUpperCase());
  const recovered = await submit(other, '#verify');
  assert.equal(recovered.status(), 303);
  assert.equal(pathOf(other), '/account');
  assert.equal(await text(other, '#recovery-left'), '9');
});
