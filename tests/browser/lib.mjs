// The shared part of Linkback's browser checks (check.mjs, moderate.mjs): the ok/FAIL protocol
// that run.py relays, Chromium's launch, and a watch on every page for dialogs, uncaught errors
// and Content-Security-Policy violations, each of which is a failure.

import { chromium } from 'playwright-core';

export const STEP_TIMEOUT_MS = 15_000;
export const LAUNCH_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
/** Elements no stranger's text may ever turn into. */
export const DANGEROUS = 'script, img, svg, iframe, frame, object, embed, style, link, meta, base, form, input, button, video, audio, math';

export const dialogs = []; // every dialog any page opened: each one is a failure
export const pageErrors = []; // uncaught exceptions in any page
export const cspViolations = []; // resources or scripts a page's CSP refused
let passed = 0;
let failed = 0;

export class CheckFailed extends Error {}

export function expect(condition, message) {
  if (!condition) throw new CheckFailed(message);
}

export const show = (value) => {
  const text = JSON.stringify(value);
  return text && text.length > 600 ? `${text.slice(0, 600)}…` : text;
};

/** Prints the summary line and exits: 0 only if every check passed. */
export function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

export function fail(name, detail) {
  failed += 1;
  console.log(`FAIL - ${name}: ${String(detail).replace(/\n/g, '\n#   ')}`);
}

/** Runs one check; a dialog opened meanwhile fails it too. Returns whether it passed. */
export async function check(name, fn) {
  const dialogsBefore = dialogs.length;
  try {
    await fn();
    expect(dialogs.length === dialogsBefore,
      `a dialog opened: ${show(dialogs.slice(dialogsBefore))}`);
  } catch (error) {
    fail(name, error instanceof CheckFailed ? error.message : (error?.stack?.split('\n').slice(0, 3).join('\n') ?? error));
    return false;
  }
  passed += 1;
  console.log(`ok - ${name}`);
  return true;
}

export function watch(page) {
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on('dialog', (dialog) => {
    dialogs.push({ page: page.url(), type: dialog.type(), message: dialog.message() });
    dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => pageErrors.push({ page: page.url(), error: String(error) }));
  page.on('console', (message) => {
    const text = message.text();
    if (/Content Security Policy/i.test(text)) {
      cspViolations.push({ page: page.url(), text });
    }
    if ((message.type() === 'warning' || message.type() === 'error') && !text.startsWith('Failed to load resource')) {
      console.log(`# console ${message.type()} on ${page.url()}: ${text}`);
    }
  });
  page.on('response', (response) => {
    const url = new URL(response.url());
    if (response.status() >= 400 && url.pathname !== '/favicon.ico' && response.status() !== 401) {
      console.log(`# HTTP ${response.status()} for ${response.url()} (on ${page.url()})`);
    }
  });
  return page;
}

export async function newPage(context) {
  return watch(await context.newPage());
}

/** Fails and finishes the run if it is still going after `ms`. */
export function giveUpAfter(ms) {
  const timer = setTimeout(() => {
    fail('browser checks finish in time', `still running after ${ms / 1000} s`);
    finish();
  }, ms);
  timer.unref();
}

/** Launches headless Chromium from `executablePath` as a check; finishes the run if it fails. */
export async function launch(executablePath) {
  let browser;
  const launched = await check(`Chromium (${executablePath}) starts headless`, async () => {
    browser = await chromium.launch({ executablePath, headless: true, args: LAUNCH_ARGS, timeout: 30_000 });
    console.log(`# browser version ${browser.version()}`);
  });
  if (!launched) finish();
  return browser;
}
