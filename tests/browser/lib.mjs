// Shared by the browser tests: the environment scripts/browser-test provides, the
// browser, page helpers and screenshots.
//
//   AEGIS_URL                   the server, http://127.0.0.1:PORT
//   AEGIS_CALLBACK_URL          the one registered redirect_uri (a test serves it)
//   AEGIS_CLIENT_TOKEN          an API token, the Pangea client token for /v2/client/*
//   AEGIS_BROWSER_USERS         JSON {testname: {email, password}}, one user per test
//   AEGIS_BROWSER_ARTIFACTS     where screenshots go
//   AEGIS_BROWSER_NODE_MODULES  node_modules holding playwright-core
//   AEGIS_CHROMIUM              the browser executable (default /usr/bin/chromium)

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the suite with scripts/browser-test`);
  return v;
}

export const BASE = env('AEGIS_URL').replace(/\/$/, '');
export const CALLBACK_URL = env('AEGIS_CALLBACK_URL');
export const CLIENT_TOKEN = env('AEGIS_CLIENT_TOKEN');
export const ARTIFACTS = env('AEGIS_BROWSER_ARTIFACTS');
const USERS = JSON.parse(env('AEGIS_BROWSER_USERS'));
const CHROMIUM = process.env.AEGIS_CHROMIUM || '/usr/bin/chromium';

export const INVALID = 'Invalid username, password or code.';

const require = createRequire(join(env('AEGIS_BROWSER_NODE_MODULES'), 'noop.js'));
const { chromium } = require('playwright-core');

/** The user set aside for one test: {email, password}. */
export function user(name) {
  const u = USERS[name];
  if (!u) throw new Error(`no user ${name} in AEGIS_BROWSER_USERS`);
  return u;
}

let browserPromise = null;
function browser() {
  browserPromise ??= chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  return browserPromise;
}
after(async () => {
  if (browserPromise) await (await browserPromise).close();
});

/** Saves a full-page screenshot as ARTIFACTS/NAME.png. */
export async function shot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/**
 * A test with fresh browser contexts: `fn({ page, newPage })` gets a page in a new
 * context, and `newPage()` opens another one in its own new context. On failure
 * every open page is saved as FAIL-<test>-<n>.png and its URL reported.
 */
export function browserTest(name, fn) {
  test(name, { timeout: 120_000 }, async (t) => {
    const b = await browser();
    const contexts = [];
    const pages = [];
    const newPage = async () => {
      const context = await b.newContext({ viewport: { width: 900, height: 700 } });
      context.setDefaultTimeout(15_000);
      context.setDefaultNavigationTimeout(15_000);
      contexts.push(context);
      const page = await context.newPage();
      pages.push(page);
      return page;
    };
    try {
      await fn({ page: await newPage(), newPage });
    } catch (e) {
      const slug = name.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').slice(0, 50);
      const notes = [];
      for (const [i, p] of pages.entries()) {
        if (p.isClosed()) continue;
        notes.push(`open page ${i}: ${p.url()} (screenshot FAIL-${slug}-${i}.png)`);
        await shot(p, `FAIL-${slug}-${i}`).catch(() => {});
      }
      for (const note of notes) t.diagnostic(note);
      throw e;
    } finally {
      for (const c of contexts) await c.close().catch(() => {});
    }
  });
}

/** Opens a page of the server; returns the navigation's response. */
export async function open(page, path) {
  const res = await page.goto(BASE + path);
  assert.ok(res, `no response for ${path}`);
  return res;
}

/**
 * Clicks a submit button and waits for the new document to load. Returns the
 * response to the form post itself (a 303 when the server redirects; the final
 * page's status otherwise).
 */
export async function submit(page, selector) {
  const main = page.mainFrame();
  const navigated = page.waitForEvent('framenavigated', { predicate: (f) => f === main });
  const answered = page.waitForResponse(
    (r) => r.request().isNavigationRequest() && r.frame() === main && r.request().method() === 'POST',
  );
  await page.click(selector);
  const res = await answered;
  await navigated;
  await page.waitForLoadState('load');
  return res;
}

/** Fills the sign-in form on the current page and sends it. */
export async function signIn(page, identifier, password) {
  await page.fill('#identifier', identifier);
  await page.fill('#password', password);
  return submit(page, '#sign-in');
}

/** The path of the page's URL (no query). */
export function pathOf(page) {
  return new URL(page.url()).pathname;
}

/** The trimmed text of an element. */
export async function text(page, selector) {
  return (await page.textContent(selector))?.trim() ?? null;
}

/** A JSON call to the server with the client token. */
export async function api(method, path, body, token = CLIENT_TOKEN) {
  const res = await fetch(BASE + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const raw = await res.text();
  let json = null;
  try {
    json = JSON.parse(raw);
  } catch {
    /* not JSON: leave null */
  }
  return { status: res.status, json, raw };
}
