// Linkback's admin page in headless Chromium: a person signs in with the admin token and works
// through a queue of ten pending mentions by keyboard and clicks.
//
// Usage: node tests/browser/moderate.mjs '<json>'   (tests/browser/moderate.py starts the origin
// and the service, sends the ten pingbacks and builds the JSON: service, token, the ten mentions
// in queue order.) moderate.py checks afterwards, through the JSON API, where each one ended.
//
// The plan, by position in the queue: #0 `a`; #2 `j` `a`; #1 `k` `s`; #3 a click on Reject in a
// browser with JavaScript off; #4 a click on "Block <host>"; #5-#9 `x`, "select all", the bulk
// Approve. On the way: the login page shows nothing, a wrong token gets 401, the session cookie
// is HttpOnly, hostile text stays text, no dialog opens, the CSP refuses nothing the page needs.
// Prints `ok - name` or `FAIL - name: details` per check and, last, `N passed, M failed`.

import path from 'node:path';
import {
  DANGEROUS, check, cspViolations, dialogs, expect, fail, finish, giveUpAfter, launch, newPage,
  pageErrors, show,
} from './lib.mjs';

const OVERALL_TIMEOUT_MS = 150_000;
/** How long "nothing happened" is watched for after a key that must do nothing. */
const QUIET_MS = 700;

const args = JSON.parse(process.argv[2] ?? '{}');
const M = args.mentions; // the ten, in queue order (oldest first)
const at = (p) => `${args.service}${p}`;
const tag = 'admin page';

/** The ids the page lists, in order. */
const listed = (page) => page.$$eval('li.mention', (lis) => lis.map((li) => Number(li.dataset.id)));
/** The id of the highlighted (current) mention, or null. */
const current = (page) => page.$$eval('li.mention.current', (lis) => lis.map((li) => Number(li.dataset.id)));
const ids = (...positions) => positions.map((i) => M[i].id);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** Runs `act` and waits for the navigation it causes; the main document's response. */
async function navigating(page, act) {
  const [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), act()]);
  return response;
}

async function notice(page) {
  const box = page.locator('p.notice');
  return (await box.count()) ? box.innerText() : null;
}

async function expectQueue(page, want, currentId, noticeText) {
  const got = await listed(page);
  expect(same(got, want), `listed ${show(got)}, want ${show(want)}`);
  if (currentId !== undefined) {
    const cur = await current(page);
    expect(same(cur, [currentId]), `current ${show(cur)}, want [${currentId}]`);
  }
  if (noticeText !== undefined) {
    const text = await notice(page);
    expect(text === noticeText, `notice ${show(text)}, want ${show(noticeText)}`);
  }
}

async function signIn(page, token) {
  await page.fill('#token', token);
  return navigating(page, () => page.click('form[action="/admin/login"] button[type="submit"]'));
}

async function workTheQueue(browser) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await newPage(context);
  const moderatePosts = [];
  page.on('request', (request) => {
    if (request.method() === 'POST' && new URL(request.url()).pathname === '/admin/moderate') {
      moderatePosts.push(request.url());
    }
  });

  const loginShown = await check(`${tag}: without a session /admin is a login form that shows no mention data`, async () => {
    const response = await page.goto(at('/admin'), { waitUntil: 'load' });
    expect(response && response.status() === 200, `answered ${response?.status()}`);
    const headers = response.headers();
    expect(/script-src 'self'/.test(headers['content-security-policy'] ?? '') &&
      /frame-ancestors 'none'/.test(headers['content-security-policy'] ?? ''),
    `Content-Security-Policy ${show(headers['content-security-policy'])}`);
    expect(headers['x-frame-options'] === 'DENY', `X-Frame-Options ${show(headers['x-frame-options'])}`);
    // same-origin: no Referer to the sources; our own form posts keep their Origin.
    expect(headers['referrer-policy'] === 'same-origin', `Referrer-Policy ${show(headers['referrer-policy'])}`);
    expect(headers['cache-control'] === 'no-store', `Cache-Control ${show(headers['cache-control'])}`);
    expect(await page.locator('input#token[type="password"]').count() === 1, 'no token field');
    const html = await page.content();
    const text = await page.locator('body').innerText();
    const leaks = M.filter((m) => html.includes(m.source) || text.includes(m.title) ||
      html.includes(new URL(m.source).host));
    expect(leaks.length === 0, `the login page shows ${show(leaks.map((m) => m.source))}`);
    expect(await page.locator('li.mention, form#queue').count() === 0, 'queue markup on the login page');
    await page.screenshot({ path: path.join(args.screenshots, 'admin-login.png') });
  });
  if (!loginShown) {
    await context.close();
    return;
  }

  await check(`${tag}: a wrong token gets 401 and the form again, still without data`, async () => {
    const response = await signIn(page, `${args.token}x`);
    expect(response && response.status() === 401, `answered ${response?.status()}`);
    const text = await page.locator('body').innerText();
    expect(text.includes('That token is not valid.'), `page says ${show(text)}`);
    expect(await page.locator('li.mention').count() === 0, 'mentions shown');
    const cookies = await context.cookies(at('/admin'));
    expect(!cookies.some((c) => c.name === 'linkback_admin'), `cookies ${show(cookies)}`);
  });

  const signedIn = await check(`${tag}: the token signs in (303 to /admin): ten pending mentions, oldest first`, async () => {
    const response = await signIn(page, args.token);
    expect(response && response.status() === 200, `answered ${response?.status()}`);
    expect(new URL(page.url()).pathname === '/admin', `landed on ${page.url()}`);
    expect(response.request().redirectedFrom()?.url().endsWith('/admin/login'), 'not a redirect from the login');
    await expectQueue(page, ids(0, 1, 2, 3, 4, 5, 6, 7, 8, 9));
    const who = await page.locator('.who').innerText();
    expect(who === 'Signed in as admin', `header says ${show(who)}`);
  });
  if (!signedIn) {
    await context.close();
    return;
  }

  await check(`${tag}: the session cookie is HttpOnly, SameSite=Strict, Secure, Path=/admin; document.cookie does not show it`, async () => {
    const cookies = await context.cookies(at('/admin'));
    const session = cookies.find((c) => c.name === 'linkback_admin');
    expect(session, `no linkback_admin cookie: ${show(cookies.map((c) => c.name))}`);
    expect(session.httpOnly === true, 'not HttpOnly');
    expect(session.sameSite === 'Strict', `SameSite ${session.sameSite}`);
    expect(session.secure === true, 'not Secure (Chromium keeps Secure cookies on http://127.0.0.1)');
    expect(session.path === '/admin', `Path ${session.path}`);
    expect(session.value.length >= 43, `a ${session.value.length}-character id`);
    const seen = await page.evaluate(() => document.cookie);
    expect(!seen.includes('linkback_admin') && !seen.includes(session.value), `document.cookie = ${show(seen)}`);
  });

  await check(`${tag}: each item shows title, source link, target, excerpt, protocol, time, status, why and score`, async () => {
    const items = await page.$$eval('li.mention', (lis) => lis.map((li) => ({
      id: Number(li.dataset.id),
      title: li.querySelector('h2.title')?.innerText,
      source: li.querySelector('.source a')?.getAttribute('href'),
      sourceText: li.querySelector('.source a')?.innerText,
      rel: li.querySelector('.source a')?.getAttribute('rel'),
      target: li.querySelector('.target')?.innerText,
      excerpt: li.querySelector('.excerpt')?.innerText ?? null,
      protocol: li.querySelector('dd.protocol')?.innerText,
      received: li.querySelector('dd.received time')?.getAttribute('datetime'),
      status: li.querySelector('dd.status')?.innerText,
      reason: li.querySelector('dd.reason')?.innerText,
      score: li.querySelector('dd.score')?.innerText,
      buttons: [...li.querySelectorAll('.actions button')].map((b) => b.innerText),
      checkbox: li.querySelectorAll('input.pick[type="checkbox"]').length,
    })));
    const problems = [];
    for (const [i, m] of M.entries()) {
      const item = items[i];
      if (!item || item.id !== m.id) { problems.push(`#${i}: ${show(item)}`); continue; }
      if (item.title !== m.title) problems.push(`#${i} title ${show(item.title)} != ${show(m.title)}`);
      if (item.source !== m.source || item.sourceText !== m.source) problems.push(`#${i} source ${show(item.source)}`);
      if (item.rel !== 'nofollow noopener ugc') problems.push(`#${i} rel ${show(item.rel)}`);
      if (!item.target?.includes('/2026/11/working-the-queue/')) problems.push(`#${i} target ${show(item.target)}`);
      if (m.excerpt && item.excerpt !== `[\u2026] ${m.excerpt} [\u2026]`) problems.push(`#${i} excerpt ${show(item.excerpt)}`);
      if (item.protocol !== 'pingback') problems.push(`#${i} protocol ${show(item.protocol)}`);
      if (!/^\d{4}-\d{2}-\d{2}T/.test(item.received ?? '')) problems.push(`#${i} received ${show(item.received)}`);
      if (item.status !== 'pending') problems.push(`#${i} status ${show(item.status)}`);
      if (!item.reason?.startsWith('held')) problems.push(`#${i} why ${show(item.reason)}`);
      if (!/^-?\d+\.\d{2}$/.test(item.score ?? '')) problems.push(`#${i} score ${show(item.score)}`);
      const want = ['Approve', 'Spam', 'Reject', `Block ${new URL(m.source).host}`];
      if (!same(item.buttons, want)) problems.push(`#${i} buttons ${show(item.buttons)}`);
      if (item.checkbox !== 1) problems.push(`#${i} ${item.checkbox} checkboxes`);
    }
    expect(problems.length === 0, problems.join('; '));
  });

  await check(`${tag}: the hostile title and excerpt show as literal text; nothing executable came in`, async () => {
    const title = page.locator(`#mention-${M[4].id} h2.title`);
    expect(await title.innerText() === args.hostile.title, `title shows ${show(await title.innerText())}`);
    expect(await title.isVisible(), 'the hostile title is not visible');
    const excerpt = page.locator(`#mention-${M[5].id} .excerpt`);
    expect((await excerpt.innerText()).includes(args.hostile.excerpt), `excerpt shows ${show(await excerpt.innerText())}`);
    const found = await page.evaluate((dangerous) => ({
      inItems: [...document.querySelectorAll('li.mention')].flatMap((li) =>
        [...li.querySelectorAll(dangerous)].filter((e) => !(e.tagName === 'INPUT' && e.classList.contains('pick')) &&
          !(e.tagName === 'BUTTON' && e.classList.contains('act'))).map((e) => e.outerHTML.slice(0, 200))),
      scripts: [...document.scripts].map((s) => s.getAttribute('src')),
      on: [...document.querySelectorAll('*')].flatMap((e) =>
        [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${e.tagName} ${a.name}`)),
    }), DANGEROUS);
    expect(same(found.scripts, ['/admin/assets/admin.js']), `scripts ${show(found.scripts)}`);
    expect(found.inItems.length === 0, `elements inside items: ${show(found.inItems)}`);
    expect(found.on.length === 0, `event-handler attributes: ${show(found.on)}`);
  });

  await check(`${tag}: admin.js runs under the CSP: the first mention is current, "select all" is shown`, async () => {
    await expectQueue(page, ids(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), M[0].id);
    expect(await page.locator('label.select-all').isVisible(), '"select all" is hidden');
    expect(cspViolations.length === 0, `CSP violations: ${show(cspViolations)}`);
    await page.screenshot({ path: path.join(args.screenshots, 'admin-queue.png'), fullPage: true });
  });

  await check(`${tag}: a approves the current mention (#0); the next one is current after the reload`, async () => {
    const response = await navigating(page, () => page.keyboard.press('a'));
    expect(response && response.status() === 200, `answered ${response?.status()}`);
    await expectQueue(page, ids(1, 2, 3, 4, 5, 6, 7, 8, 9), M[1].id, '1 mention approved.');
  });

  await check(`${tag}: j moves to #2 (highlighted, in view); a approves it`, async () => {
    await page.keyboard.press('j');
    await expectQueue(page, ids(1, 2, 3, 4, 5, 6, 7, 8, 9), M[2].id);
    const seen = await page.locator('li.mention.current').evaluate((li) => {
      const box = li.getBoundingClientRect();
      return { top: box.top, bottom: box.bottom, height: window.innerHeight, outline: getComputedStyle(li).outlineStyle };
    });
    expect(seen.top >= -1 && seen.bottom <= seen.height + 1, `the current mention is not in view: ${show(seen)}`);
    expect(seen.outline !== 'none', `the current mention is not outlined: ${show(seen)}`);
    await navigating(page, () => page.keyboard.press('a'));
    await expectQueue(page, ids(1, 3, 4, 5, 6, 7, 8, 9), M[3].id, '1 mention approved.');
  });

  await check(`${tag}: k moves back to #1; s marks it spam`, async () => {
    await page.keyboard.press('k');
    await expectQueue(page, ids(1, 3, 4, 5, 6, 7, 8, 9), M[1].id);
    await navigating(page, () => page.keyboard.press('s'));
    await expectQueue(page, ids(3, 4, 5, 6, 7, 8, 9), M[3].id, '1 mention marked as spam.');
  });

  await check(`${tag}: keys typed into a form field (the site choice) act on nothing`, async () => {
    const before = moderatePosts.length;
    await page.focus('select[name="site"]');
    await page.keyboard.press('a');
    await page.keyboard.press('r');
    await page.waitForTimeout(QUIET_MS);
    expect(moderatePosts.length === before, `${moderatePosts.length - before} POSTs to /admin/moderate`);
    expect(new URL(page.url()).pathname === '/admin', `navigated to ${page.url()}`);
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await expectQueue(page, ids(3, 4, 5, 6, 7, 8, 9));
  });

  await check(`${tag}: without JavaScript, a click on Reject rejects #3 (plain form, 303 back)`, async () => {
    const plain = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1100, height: 800 } });
    try {
      const noJs = await newPage(plain);
      await noJs.goto(at('/admin'));
      const response = await signIn(noJs, args.token);
      expect(response && response.status() === 200, `sign-in answered ${response?.status()}`);
      await expectQueue(noJs, ids(3, 4, 5, 6, 7, 8, 9), undefined);
      expect(await noJs.locator('li.mention.current').count() === 0, 'a current item without the script');
      expect(!(await noJs.locator('label.select-all').isVisible()), '"select all" shown without the script');
      await navigating(noJs, () => noJs.click(`#mention-${M[3].id} button.reject`));
      expect(new URL(noJs.url()).pathname === '/admin', `back on ${noJs.url()}`);
      await expectQueue(noJs, ids(4, 5, 6, 7, 8, 9), undefined, '1 mention rejected.');
    } finally {
      await plain.close();
    }
  });

  await check(`${tag}: a click on "Block ${args.blocked_host}" marks #4 spam and adds a block rule`, async () => {
    await page.reload({ waitUntil: 'load' });
    await expectQueue(page, ids(4, 5, 6, 7, 8, 9));
    const button = page.locator(`#mention-${M[4].id} button.block`);
    expect(await button.innerText() === `Block ${args.blocked_host}`, `button says ${show(await button.innerText())}`);
    await navigating(page, () => button.click());
    await expectQueue(page, ids(5, 6, 7, 8, 9), M[5].id,
      '1 mention marked as spam, their hosts blocked. 1 block rule added.');
  });

  await check(`${tag}: x selects the current mention, "select all" the rest, the bulk Approve approves all five`, async () => {
    await page.keyboard.press('x');
    const state = () => page.evaluate(() => ({
      picked: [...document.querySelectorAll('input.pick')].map((p) => p.checked),
      all: document.getElementById('select-all').checked,
      some: document.getElementById('select-all').indeterminate,
    }));
    let s = await state();
    expect(same(s.picked, [true, false, false, false, false]) && !s.all && s.some, `after x: ${show(s)}`);
    await page.click('#select-all');
    s = await state();
    expect(s.picked.every(Boolean) && s.all && !s.some, `after "select all": ${show(s)}`);
    await page.screenshot({ path: path.join(args.screenshots, 'admin-bulk.png'), fullPage: true });
    await navigating(page, () => page.click('.bulk button.approve'));
    await expectQueue(page, [], undefined, '5 mentions approved.');
    const empty = await page.locator('p.empty').innerText();
    expect(empty === 'Nothing to moderate.', `the empty queue says ${show(empty)}`);
  });

  await check(`${tag}: the tabs list the 7 approved, 2 spam and 1 rejected, latest first`, async () => {
    const tab = async (name, positions) => {
      await navigating(page, () => page.click(`nav.tabs a:text-is("${name}")`));
      const got = await listed(page);
      const want = ids(...positions).sort((a, b) => b - a);
      expect(same(got, want), `${name}: ${show(got)}, want ${show(want)}`);
      const statuses = await page.$$eval('dd.status', (dds) => dds.map((d) => d.innerText));
      expect(statuses.every((st) => st === name), `${name}: statuses ${show(statuses)}`);
    };
    await tab('approved', [0, 2, 5, 6, 7, 8, 9]);
    await tab('spam', [1, 4]);
    await tab('rejected', [3]);
  });

  await check(`${tag}: Log out ends the session: the login form again, and the old cookie opens nothing`, async () => {
    const old = (await context.cookies(at('/admin'))).find((c) => c.name === 'linkback_admin');
    await navigating(page, () => page.click('form.logout button'));
    expect(await page.locator('input#token').count() === 1, 'no login form after logging out');
    const left = (await context.cookies(at('/admin'))).filter((c) => c.name === 'linkback_admin');
    expect(left.length === 0, `cookie kept: ${show(left)}`);
    await context.addCookies([{ ...old }]);
    await page.goto(at('/admin'));
    expect(await page.locator('input#token').count() === 1, 'the old session id still opens the queue');
    expect(await page.locator('li.mention').count() === 0, 'mentions shown');
  });

  await context.close();
}

async function main() {
  giveUpAfter(OVERALL_TIMEOUT_MS);
  const browser = await launch(args.chromium);
  try {
    await workTheQueue(browser);
    await check(`${tag}: no dialog (alert/confirm/prompt) opened`, async () => {
      expect(dialogs.length === 0, show(dialogs));
    });
    await check(`${tag}: no uncaught JavaScript error and no Content-Security-Policy violation`, async () => {
      expect(pageErrors.length === 0, show(pageErrors));
      expect(cspViolations.length === 0, show(cspViolations));
    });
  } catch (error) {
    fail('browser checks run to the end', error?.stack ?? error);
  } finally {
    await browser.close().catch(() => {});
  }
  finish();
}

main().catch((error) => {
  fail('browser checks run to the end', error?.stack ?? error);
  finish();
});
