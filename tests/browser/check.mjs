// Linkback's real-browser check: headless Chromium (Debian's package) driven by playwright-core.
//
// Usage: node tests/browser/check.mjs '<json>'   (tests/browser/run.py starts the origin and the
// service, sends the mentions and builds the JSON: pages, stored mentions, tokens, expectations.)
//
// Checks what a person sees: the embed that an article page includes with
// <script src=".../embed.js?target=..." async>, and the site owner's page /site/{name} behind HTTP
// Basic. Hostile titles, excerpts and authors must show as literal text; no dialog (alert) may
// ever open. Prints `ok - name` or `FAIL - name: details` per check and, last, `N passed, M failed`.
// Exit status 0 only if every check passed. Screenshots go to the "screenshots" directory.

import path from 'node:path';
import {
  DANGEROUS, check, dialogs, expect, fail, finish, giveUpAfter, launch, newPage, pageErrors, show,
} from './lib.mjs';

const OVERALL_TIMEOUT_MS = 150_000;

const args = JSON.parse(process.argv[2] ?? '{}');

const shown = (mention) => mention.title ?? new URL(mention.source).host;

// ------------------------------------------------------------------------------------ the embed

async function embedChecks(browser, embed) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const page = await newPage(context);
  const tag = `embed, ${embed.name}`;
  let info = null;

  await check(`${tag}: the page loads and the list appears (${embed.mentions.length} items)`, async () => {
    const response = await page.goto(embed.page, { waitUntil: 'load' });
    expect(response && response.status() === 200, `article page answered ${response?.status()}`);
    await page.waitForSelector('.linkback-embed ol.linkback-mentions', { state: 'attached' });
    if (embed.mentions.length > 0) {
      await page.waitForFunction(
        (n) => document.querySelectorAll('.linkback-embed ol.linkback-mentions > li').length >= n,
        embed.mentions.length);
    }
    info = await page.evaluate((dangerous) => {
      const boxes = document.querySelectorAll('.linkback-embed');
      const box = boxes[0];
      const prev = box.previousElementSibling;
      return {
        boxes: boxes.length,
        lists: box.querySelectorAll('ol.linkback-mentions').length,
        items: [...box.querySelectorAll('ol.linkback-mentions > li')].map((li) => {
          const title = li.querySelector('.linkback-title');
          return {
            id: li.id,
            title: title?.innerText,
            titleTag: title?.tagName,
            href: title?.getAttribute('href'),
            rel: title?.getAttribute('rel'),
            author: li.querySelector('.linkback-author')?.innerText ?? null,
            date: li.querySelector('time.linkback-date')?.innerText ?? null,
            excerpt: li.querySelector('.linkback-excerpt')?.innerText ?? null,
          };
        }),
        anchors: [...box.querySelectorAll('a')].map((a) => ({ href: a.getAttribute('href'), rel: a.getAttribute('rel') })),
        dangerous: [...box.querySelectorAll(dangerous)].map((e) => e.outerHTML.slice(0, 200)),
        onAttributes: [...box.querySelectorAll('*')].flatMap((e) =>
          [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${e.tagName} ${a.name}`)),
        javascriptUrls: [...box.querySelectorAll('[href], [src]')]
          .map((e) => e.getAttribute('href') ?? e.getAttribute('src'))
          .filter((u) => /^\s*javascript:/i.test(u)),
        after: prev ? { tag: prev.tagName, src: prev.getAttribute('src') } : null,
        parentId: box.parentElement?.id ?? null,
        pageScripts: document.scripts.length,
        pageSvgOrImg: document.querySelectorAll('svg, img').length,
        text: box.innerText,
      };
    }, DANGEROUS);
    expect(info.boxes === 1, `${info.boxes} .linkback-embed boxes in the page`);
    expect(info.lists === 1, `${info.lists} <ol class="linkback-mentions"> in the box`);
    expect(info.items.length === embed.mentions.length,
      `${info.items.length} <li> shown for ${embed.mentions.length} approved mentions`);
  });
  if (!info) { // the page or the list never came: nothing more to look at
    await context.close();
    return;
  }

  await check(`${tag}: placed ${embed.placement === 'slot' ? 'inside #linkback-mentions' : 'right after its <script>'}`, async () => {
    if (embed.placement === 'slot') {
      expect(info.parentId === 'linkback-mentions', `the box's parent is #${info.parentId}`);
    } else {
      expect(info.after?.tag === 'SCRIPT' && /\/embed\.js\?target=/.test(info.after.src ?? ''),
        `the box follows ${show(info.after)}`);
    }
  });

  if (embed.mentions.length > 0) {
    await check(`${tag}: each item shows the stored title, link, author, date and [\u2026] excerpt [\u2026] as text`, async () => {
      const problems = [];
      const byId = new Map(info.items.map((item) => [item.id, item]));
      for (const m of embed.mentions) {
        const item = byId.get(`linkback-${m.id}`);
        if (!item) {
          problems.push(`no <li id="linkback-${m.id}"> for ${m.source}`);
          continue;
        }
        if (item.title !== shown(m)) problems.push(`${m.source}: title ${show(item.title)} != ${show(shown(m))}`);
        if (item.titleTag !== 'A' || item.href !== m.source) problems.push(`${m.source}: title is ${item.titleTag} href=${show(item.href)}`);
        if (m.author && item.author !== m.author) problems.push(`${m.source}: author ${show(item.author)} != ${show(m.author)}`);
        if (!/^\d{4}-\d{2}-\d{2}$/.test(item.date ?? '')) problems.push(`${m.source}: date ${show(item.date)}`);
        if (m.excerpt && item.excerpt !== `[\u2026] ${m.excerpt} [\u2026]`) {
          problems.push(`${m.source}: excerpt ${show(item.excerpt)} != ${show(`[\u2026] ${m.excerpt} [\u2026]`)}`);
        }
      }
      expect(problems.length === 0, problems.join('; '));
    });

    await check(`${tag}: every link is rel="nofollow ugc" and goes to its source`, async () => {
      const sources = new Set(embed.mentions.map((m) => m.source));
      const bad = info.anchors.filter((a) => a.rel !== 'nofollow ugc' || !sources.has(a.href));
      expect(info.anchors.length === embed.mentions.length, `${info.anchors.length} links for ${embed.mentions.length} mentions`);
      expect(bad.length === 0, `links: ${show(bad)}`);
    });
  }

  await check(`${tag}: nothing executable came from the embed (no script/img/svg/iframe/style, no on* attributes)`, async () => {
    expect(info.dangerous.length === 0, `elements in the embed: ${show(info.dangerous)}`);
    expect(info.onAttributes.length === 0, `event-handler attributes: ${show(info.onAttributes)}`);
    expect(info.javascriptUrls.length === 0, `javascript: URLs: ${show(info.javascriptUrls)}`);
    expect(info.pageScripts === 1, `${info.pageScripts} <script> elements in the page (only embed.js expected)`);
    expect(info.pageSvgOrImg === 0, `${info.pageSvgOrImg} <img>/<svg> elements in the page`);
  });

  if (embed.visible_text?.length || embed.mentions.some((m) => m.title === args.hostile.title)) {
    await check(`${tag}: hostile title, excerpt and author are visible as literal text`, async () => {
      const { title, excerpt, author } = args.hostile;
      const titleLink = page.locator('.linkback-embed a.linkback-title', { hasText: title });
      expect(await titleLink.count() === 1, `${await titleLink.count()} title links with the text ${show(title)}`);
      expect(await titleLink.isVisible(), 'the hostile title is not visible');
      expect(await titleLink.innerText() === title, `title shows ${show(await titleLink.innerText())}`);
      const excerptP = page.locator('.linkback-embed .linkback-excerpt', { hasText: excerpt });
      expect(await excerptP.count() === 1 && await excerptP.isVisible(), `no visible excerpt containing ${show(excerpt)}`);
      const authorSpan = page.locator('.linkback-embed .linkback-author', { hasText: author });
      expect(await authorSpan.count() === 1 && await authorSpan.isVisible(), `no visible author ${show(author)}`);
      expect(await authorSpan.innerText() === author, `author shows ${show(await authorSpan.innerText())}`);
    });
  }

  for (const text of embed.visible_text ?? []) {
    await check(`${tag}: "${text.slice(0, 40)}\u2026" is visible`, async () => {
      const excerpt = page.locator('.linkback-embed .linkback-excerpt', { hasText: text });
      expect(await excerpt.count() === 1, `${await excerpt.count()} excerpts with that text; the box shows:\n${info.text}`);
      expect(await excerpt.isVisible(), 'present but not visible');
      expect(await excerpt.innerText() === text, `shows ${show(await excerpt.innerText())}`);
    });
  }

  if (embed.screenshot) {
    await check(`${tag}: screenshot ${embed.screenshot}`, async () => {
      await page.locator('.linkback-embed').scrollIntoViewIfNeeded();
      await page.evaluate(() => window.scrollBy(0, 120));
      await page.screenshot({ path: path.join(args.screenshots, embed.screenshot) });
    });
  }
  await context.close();
}

// ------------------------------------------------------------------------- the owner's page

async function sitePageChecks(browser) {
  const site = args.site;
  const context = await browser.newContext({
    viewport: { width: 1000, height: 900 },
    httpCredentials: { username: 'owner', password: site.token },
  });
  const page = await newPage(context);
  const tag = `site page /site/${site.name}`;
  const total = site.articles.reduce((n, a) => n + a.count, 0);

  const loaded = await check(`${tag}: opens with HTTP Basic (the site token as password)`, async () => {
    const response = await page.goto(site.url, { waitUntil: 'load' });
    expect(response && response.status() === 200, `answered ${response?.status()}`);
    expect(await page.title() === `Mentions of ${site.name}`, `title ${show(await page.title())}`);
    const h1 = page.locator('h1');
    expect(await h1.innerText() === `Inbound links to ${site.name}`, `h1 ${show(await h1.innerText())}`);
    const summary = await page.locator('p.summary').innerText();
    const want = `${site.articles.length} articles, ${total} mentions`;
    expect(summary === want, `summary ${show(summary)} != ${show(want)}`);
  });
  if (!loaded) {
    await context.close();
    return;
  }

  await check(`${tag}: articles ranked by mentions, most first (${site.articles.map((a) => a.count).join(', ')})`, async () => {
    const got = await page.$$eval('details.article > summary', (summaries) => summaries.map((s) => ({
      count: s.querySelector('.count')?.innerText,
      link: s.querySelector('a')?.getAttribute('href'),
      text: s.innerText,
    })));
    const want = site.articles.map((a) => ({ count: String(a.count), link: a.target }));
    expect(got.length === want.length, `${got.length} articles shown: ${show(got)}`);
    const bad = want.filter((w, i) => got[i].count !== w.count || got[i].link !== w.link);
    expect(bad.length === 0, `shown ${show(got)}\nwanted ${show(want)}`);
    for (const g of got) expect(g.text.includes(g.link), `summary text ${show(g.text)} lacks its URL`);
  });

  await check(`${tag}: every <details> is closed and its mentions hidden at first`, async () => {
    const open = await page.$$eval('details.article', (ds) => ds.map((d) => d.open));
    expect(open.every((o) => o === false), `open: ${show(open)}`);
    const visible = await page.locator('details.article li').evaluateAll((lis) => lis.filter((li) => li.checkVisibility()).length);
    expect(visible === 0, `${visible} mentions visible before any click`);
    await page.screenshot({ path: path.join(args.screenshots, 'site-closed.png'), fullPage: true });
  });

  const first = site.articles[0];
  await check(`${tag}: clicking the first <summary> opens it and shows its ${first.count} mentions`, async () => {
    const summary = page.locator('details.article > summary').first();
    // Click where a person clicks to expand: the count and triangle, not the article's link.
    await summary.locator('.count').click();
    expect(page.url() === site.url, `the click navigated to ${page.url()}`);
    await page.waitForFunction(() => document.querySelector('details.article')?.open === true);
    const open = await page.$$eval('details.article', (ds) => ds.map((d) => d.open));
    expect(open[0] === true && open.slice(1).every((o) => !o), `open after one click: ${show(open)}`);
    const items = page.locator('details.article').first().locator('li');
    expect(await items.count() === first.count, `${await items.count()} items for ${first.count} mentions`);
    const shownTitles = await items.evaluateAll((lis) => lis.map((li) => ({
      visible: li.checkVisibility(),
      title: li.querySelector('a')?.innerText ?? li.firstChild?.textContent,
      href: li.querySelector('a')?.getAttribute('href'),
      rel: li.querySelector('a')?.getAttribute('rel'),
      status: li.querySelector('.status')?.innerText,
      statusVisible: li.querySelector('.status')?.checkVisibility() ?? false,
      cls: li.className,
    })));
    const problems = [];
    for (const m of first.mentions) {
      const item = shownTitles.find((s) => s.href === m.source);
      if (!item) { problems.push(`${m.source} not listed`); continue; }
      if (!item.visible) problems.push(`${m.source} not visible`);
      if (item.title !== shown(m)) problems.push(`${m.source}: title ${show(item.title)} != ${show(shown(m))}`);
      if (item.rel !== 'nofollow ugc') problems.push(`${m.source}: rel ${show(item.rel)}`);
      if (item.status !== m.status || !item.statusVisible) problems.push(`${m.source}: status ${show(item.status)} (visible ${item.statusVisible}) != ${m.status}`);
      if (item.cls !== `status-${m.status}`) problems.push(`${m.source}: class ${show(item.cls)}`);
    }
    expect(problems.length === 0, problems.join('; '));
  });

  await check(`${tag}: statuses are visible (${[...new Set(first.mentions.map((m) => m.status))].sort().join(', ')})`, async () => {
    const statuses = await page.locator('details.article').first().locator('.status').evaluateAll(
      (spans) => spans.filter((s) => s.checkVisibility()).map((s) => s.innerText));
    for (const status of new Set(first.mentions.map((m) => m.status))) {
      expect(statuses.includes(status), `no visible status ${status}: ${show(statuses)}`);
    }
  });

  await check(`${tag}: the hostile title and excerpt show as literal text`, async () => {
    const link = page.locator('details.article li a', { hasText: args.hostile.title });
    expect(await link.count() === 1 && await link.isVisible(), `${await link.count()} visible links titled ${show(args.hostile.title)}`);
    expect(await link.innerText() === args.hostile.title, `shows ${show(await link.innerText())}`);
    const excerpt = page.locator('details.article li p', { hasText: args.hostile.excerpt });
    expect(await excerpt.count() === 1 && await excerpt.isVisible(), `no visible excerpt with ${show(args.hostile.excerpt)}`);
  });

  await check(`${tag}: nothing executable on the page (no script/img/svg/iframe, no on* attributes)`, async () => {
    const found = await page.evaluate((dangerous) => ({
      dangerous: [...document.body.querySelectorAll(dangerous)].map((e) => e.outerHTML.slice(0, 200)),
      scripts: document.scripts.length,
      on: [...document.querySelectorAll('*')].flatMap((e) =>
        [...e.attributes].filter((a) => /^on/i.test(a.name)).map((a) => `${e.tagName} ${a.name}`)),
      rels: [...document.querySelectorAll('details li a')].map((a) => a.getAttribute('rel')),
    }), DANGEROUS);
    expect(found.scripts === 0, `${found.scripts} <script> elements`);
    expect(found.dangerous.length === 0, `elements: ${show(found.dangerous)}`);
    expect(found.on.length === 0, `event-handler attributes: ${show(found.on)}`);
    expect(found.rels.every((r) => r === 'nofollow ugc'), `mention links' rel: ${show(found.rels)}`);
  });

  await check(`${tag}: screenshot site.png (first article open)`, async () => {
    await page.screenshot({ path: path.join(args.screenshots, site.screenshot), fullPage: true });
  });
  await context.close();
}

async function accessChecks(browser) {
  const site = args.site;
  const pending = args.pending_site;

  await check(`site page: without credentials the answer is 401 with WWW-Authenticate: Basic`, async () => {
    const context = await browser.newContext();
    try {
      const response = await context.request.get(site.url);
      expect(response.status() === 401, `answered ${response.status()}`);
      const challenge = response.headers()['www-authenticate'] ?? '';
      expect(/^Basic\b/i.test(challenge), `WWW-Authenticate ${show(challenge)}`);
      const body = await response.text();
      expect(!body.includes('Inbound links'), 'the 401 body shows the mentions');
    } finally {
      await context.close();
    }
  });

  await check(`site page: a browser without credentials is challenged and sees no mentions`, async () => {
    const context = await browser.newContext();
    try {
      const page = await newPage(context);
      // A person's browser would now ask for a user name and password. Headless Chromium has no
      // such prompt: it either shows the 401 page or gives up with ERR_INVALID_AUTH_CREDENTIALS.
      let status = null;
      try {
        status = (await page.goto(site.url))?.status() ?? null;
      } catch (error) {
        expect(/ERR_INVALID_AUTH_CREDENTIALS/.test(String(error)), `navigation failed: ${String(error).split('\n')[0]}`);
        status = 'challenge not answered (ERR_INVALID_AUTH_CREDENTIALS)';
      }
      expect(status === 401 || typeof status === 'string', `answered ${status}`);
      const text = await page.locator('body').innerText().catch(() => '');
      expect(!text.includes('Inbound links') && !text.includes(args.hostile.title), 'the page shows the mentions');
      console.log(`# without credentials the browser got: ${status}`);
    } finally {
      await context.close();
    }
  });

  await check(`site page: a wrong password gets 401`, async () => {
    const context = await browser.newContext({ httpCredentials: { username: 'owner', password: `${site.token}x` } });
    try {
      const page = await newPage(context);
      const response = await page.goto(site.url);
      expect(response && response.status() === 401, `answered ${response?.status()}`);
    } finally {
      await context.close();
    }
  });

  await check(`site page: Bearer token opens it, another site's token does not`, async () => {
    const context = await browser.newContext();
    try {
      const ok = await context.request.get(site.url, { headers: { Authorization: `Bearer ${site.token}` } });
      expect(ok.status() === 200, `Bearer site token: ${ok.status()}`);
      const other = await context.request.get(site.url, { headers: { Authorization: `Bearer ${pending.token}` } });
      expect(other.status() === 401, `Bearer of site ${pending.name}: ${other.status()}`);
    } finally {
      await context.close();
    }
  });

  await check(`site page /site/${pending.name} (manual moderation, admin token): the mention shows as pending`, async () => {
    const context = await browser.newContext({ httpCredentials: { username: 'admin', password: pending.admin_token } });
    try {
      const page = await newPage(context);
      const response = await page.goto(pending.url);
      expect(response && response.status() === 200, `answered ${response?.status()}`);
      await page.locator('details.article > summary .count').first().click();
      const item = page.locator('details.article li', { hasText: pending.pending_title });
      expect(await item.count() === 1 && await item.isVisible(), `no visible mention titled ${show(pending.pending_title)}`);
      const status = await item.locator('.status').innerText();
      expect(status === 'pending', `status ${show(status)}`);
    } finally {
      await context.close();
    }
  });
}

// ---------------------------------------------------------------------------------- the run

async function main() {
  giveUpAfter(OVERALL_TIMEOUT_MS);
  const browser = await launch(args.chromium);

  try {
    for (const embed of args.embeds) await embedChecks(browser, embed);
    await sitePageChecks(browser);
    await accessChecks(browser);
    await check('no dialog (alert/confirm/prompt) opened in any page', async () => {
      expect(dialogs.length === 0, show(dialogs));
    });
    await check('no uncaught JavaScript error in any page', async () => {
      expect(pageErrors.length === 0, show(pageErrors));
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
