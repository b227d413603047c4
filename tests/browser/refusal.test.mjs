// An application that is not registered gets a refusal page, never the browser.
import assert from 'node:assert/strict';
import { browserTest, user, open, signIn, pathOf, text, shot, BASE } from './lib.mjs';

const EVIL = 'https://evil.example/cb';

browserTest('an unregistered redirect_uri is refused and never followed', async ({ page }) => {
  const me = user('refusal');
  const offsite = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(BASE + '/')) offsite.push(r.url());
  });
  // nothing may leave for the evil site, even if the server tried
  await page.route('**://evil.example/**', (route) => route.abort());

  const res = await open(page, `/login?redirect_uri=${encodeURIComponent(EVIL)}&state=xyz`);
  assert.equal(res.status(), 400);
  assert.equal(pathOf(page), '/login');
  assert.equal(await text(page, 'h2'), 'Cannot sign in');
  assert.match(await text(page, '#message'), /not registered/);
  assert.equal(await page.$('form#login-form'), null, 'no sign-in form');
  await shot(page, 'refusal');

  // the form post is checked too: a registered-looking page with the field swapped
  await open(page, '/login');
  await page.$eval('#login-form input[name=redirect_uri]', (el, v) => { el.value = v; }, EVIL);
  const post = await signIn(page, me.email, me.password);
  assert.equal(post.status(), 400);
  assert.equal(pathOf(page), '/login');
  assert.match(await text(page, '#message'), /not registered/);
  assert.equal(
    (await page.context().cookies()).find((c) => c.name === 'aegis_session'),
    undefined,
    'no session for a refused sign-in',
  );

  assert.deepEqual(offsite, [], 'no request left the server');
});
