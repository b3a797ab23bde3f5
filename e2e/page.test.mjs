// Browser test of the ganhost page, run by e2e/run.sh against a real server:
//   E2E_URL=http://127.0.0.1:PORT E2E_TOKEN=... node --test e2e/page.test.mjs
// The tests share one page and run in order; every wait is bounded (WAIT_MS).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.E2E_URL;
const TOKEN = process.env.E2E_TOKEN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCREENSHOT = process.env.E2E_SCREENSHOT || new URL('../docs/screenshot.png', import.meta.url).pathname;
const WAIT_MS = 60_000;
const TEST = { timeout: 2 * WAIT_MS };

if (!BASE || !TOKEN) throw new Error('set E2E_URL and E2E_TOKEN (e2e/run.sh does)');

let userDataDir, context, page;
const problems = []; // uncaught page errors and CSP violations

before(async () => {
  // A new, empty profile: run.sh's (removed with the server's files), or one of our own.
  userDataDir = process.env.E2E_USER_DATA_DIR || fs.mkdtempSync(path.join(os.tmpdir(), 'ganhost-chromium-'));
  assert.deepEqual(fs.readdirSync(userDataDir), [], `${userDataDir} is empty`);
  // Playwright takes the profile directory itself (as --user-data-dir) in a persistent context.
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: WAIT_MS,
    viewport: { width: 1200, height: 720 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context.setDefaultTimeout(WAIT_MS);
  page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    // Error answers the page handles (401, 400) are logged as "Failed to load resource".
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) problems.push(`console: ${msg.text()}`);
  });
});

after(async () => {
  await context?.close();
  if (userDataDir && !process.env.E2E_USER_DATA_DIR) fs.rmSync(userDataDir, { recursive: true, force: true });
});

// grid returns what the grid image shows: its blob: src, the /generate URL it came from, its
// width and a hash of its pixels (read back through a canvas), or null while it is not loaded.
function grid() {
  return page.evaluate(async () => {
    const img = document.getElementById('grid');
    if (!img.src || !img.complete || img.naturalWidth === 0) return null;
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const pixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', pixels));
    return {
      src: img.src, url: img.dataset.src, width: img.naturalWidth,
      hash: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join(''),
    };
  });
}

// waitForGrid waits until the grid shows an image other than `old` that passes `check`.
async function waitForGrid(old, check = () => true) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const g = await grid();
    if (g && (!old || g.src !== old.src) && check(g)) return g;
    if (Date.now() > deadline) throw new Error(`grid did not change within ${WAIT_MS} ms; last: ${JSON.stringify(g)}`);
    await page.waitForTimeout(100);
  }
}

const text = (selector) => page.locator(selector).innerText();
const chartPoints = () => page.evaluate(() => {
  const line = document.querySelector('#chart polyline.d');
  return line ? line.getAttribute('points').trim().split(/\s+/).length : 0;
});

let shown; // the grid currently shown
let status; // GET /models/gan at the start

test('the page loads with a generated grid', TEST, async () => {
  const res = await page.goto(BASE + '/', { waitUntil: 'load' });
  assert.equal(res.status(), 200);
  assert.match(res.headers()['content-security-policy'], /script-src 'self'/);
  shown = await waitForGrid(null);
  assert.ok(shown.width > 0, 'grid naturalWidth > 0');
  assert.match(shown.url, /^\/generate\?n=\d+&seed=-?\d+&scale=\d$/);
  await page.waitForFunction(() => /serving version 1\b/.test(document.getElementById('model-info').textContent));
  // The digit selector is there exactly when the served model is conditional.
  status = await (await fetch(BASE + '/models/gan')).json();
  assert.equal(await page.locator('#digit-field').isVisible(), status.kind === 'conditional',
    `digit selector shown for a ${status.kind} model`);
  assert.match(await text('#version-list'), /version 1\s*served/);
});

test('changing the seed changes the image; server errors show inline', TEST, async () => {
  await page.fill('#seed', '12345');
  await page.locator('#seed').dispatchEvent('change');
  const seeded = await waitForGrid(shown, (g) => g.url.includes('seed=12345'));
  assert.notEqual(seeded.hash, shown.hash, 'another seed gives other pixels');

  await page.click('#new-seed');
  const fresh = await waitForGrid(seeded);
  assert.notEqual(fresh.hash, seeded.hash);
  assert.doesNotMatch(fresh.url, /seed=12345&/);
  shown = fresh;

  if (status.kind === 'conditional') { // a digit is one more query parameter, and other pixels
    await page.selectOption('#digit', '3');
    const three = await waitForGrid(shown, (g) => g.url.endsWith('&digit=3'));
    assert.notEqual(three.hash, shown.hash);
    await page.selectOption('#digit', '');
    shown = await waitForGrid(three, (g) => !g.url.includes('digit='));
  }

  // An out-of-range seed: the server's message is shown, then a good seed clears it.
  await page.fill('#seed', '99999999999999999999');
  await page.locator('#seed').dispatchEvent('change');
  await page.locator('#samples-error').waitFor({ state: 'visible' });
  assert.match(await text('#samples-error'), /seed must be an integer/);
  await page.fill('#seed', '7');
  await page.locator('#seed').dispatchEvent('change');
  shown = await waitForGrid(shown, (g) => g.url.includes('seed=7&'));
  await page.locator('#samples-error').waitFor({ state: 'hidden' });
});

test('training 20 steps asks for the token and adds points to the chart', TEST, async () => {
  assert.equal(await chartPoints(), 0, 'no steps trained yet');
  await page.fill('#steps', '20');
  await page.click('#train');

  // The first 401 asks for the token; a wrong one is refused and asked for again.
  await page.locator('#token-dialog').waitFor({ state: 'visible' });
  assert.match(await text('#token-message'), /needs a token/);
  await page.fill('#token', 'not-the-token');
  await page.click('#token-ok');
  await page.waitForFunction(() => document.getElementById('token-dialog').open &&
    /refused/.test(document.getElementById('token-message').textContent));
  await page.fill('#token', TOKEN);
  await page.click('#token-ok');

  await page.waitForFunction(() => /^step \d+: d_loss/.test(document.getElementById('train-info').textContent));
  await page.waitForFunction(() => /20 steps, last \d+/.test(document.getElementById('chart-info').textContent));
  assert.ok(await chartPoints() >= 10, 'the chart has a point per step (columns shared)');
  await page.waitForFunction(() => /^20 unsaved steps$/.test(document.getElementById('unsaved').textContent));
  assert.equal(await page.evaluate(() => sessionStorage.getItem('ganhost.token')), TOKEN);
  assert.equal(await page.locator('#train-error').isVisible(), false);
});

test('saving a version serves version 2 and reloads the grid', TEST, async () => {
  await page.click('#save'); // the token is in sessionStorage now: no prompt
  await page.waitForFunction(() => {
    const served = document.querySelector('#version-list li.served');
    return served && served.dataset.version === '2';
  });
  assert.match(await text('#version-list'), /version 2\s*served\s*version 1/);
  assert.match(await text('#model-info'), /serving version 2\b/);
  const reloaded = await waitForGrid(shown, (g) => g.url === shown.url);
  assert.notEqual(reloaded.hash, shown.hash, 'the same seed on the trained version gives other pixels');
  await page.waitForFunction(() => /version 2$/.test(document.getElementById('grid-info').textContent));
  assert.equal(await page.locator('#token-dialog').isVisible(), false);
  assert.equal(await page.locator('#versions-error').isVisible(), false);

  const status = await (await fetch(BASE + '/models/gan')).json();
  assert.equal(status.served_version, 2);
  assert.equal(status.unsaved_steps, 0);
  shown = reloaded;
});

test('screenshot', TEST, async () => {
  await page.waitForFunction(() => /^0 unsaved steps$/.test(document.getElementById('unsaved').textContent));
  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true, animations: 'disabled' });
  assert.ok(fs.statSync(SCREENSHOT).size > 10_000, `${SCREENSHOT} written`);
});

test('no script errors or CSP violations', TEST, () => {
  assert.deepEqual(problems, []);
});
