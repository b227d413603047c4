// Wrong passwords, then the account lock-out (10 failures by default).
import assert from 'node:assert/strict';
import { browserTest, user, open, signIn, pathOf, text, shot, INVALID } from './lib.mjs';

const LIMIT = 10;

browserTest('a wrong password is refused; after 10 the right one is too (429)', async ({ page }) => {
  const me = user('lockout');
  await open(page, '/login');

  for (let i = 1; i <= LIMIT; i++) {
    const res = await signIn(page, me.email, `${me.password}-wrong-${i}`);
    assert.equal(res.status(), 401, `wrong password #${i}`);
    assert.equal(pathOf(page), '/login');
    assert.equal(await text(page, '#error'), INVALID, `wrong password #${i}`);
    // the identifier is kept, the password is not
    assert.equal(await page.inputValue('#identifier'), me.email);
    assert.equal(await page.inputValue('#password'), '');
    if (i === 1) await shot(page, 'error');
  }

  const res = await signIn(page, me.email, me.password);
  assert.equal(res.status(), 429, 'the right password on a locked account');
  assert.match(res.headers()['retry-after'] ?? '', /^\d+$/, 'Retry-After header');
  assert.equal(pathOf(page), '/login');
  assert.match(await text(page, '#error'), /^Too many failed attempts\. Try again in \d+ seconds\.$/);
  assert.equal(
    (await page.context().cookies()).find((c) => c.name === 'aegis_session'),
    undefined,
    'no session',
  );
  await shot(page, 'locked');
});
