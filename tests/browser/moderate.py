#!/usr/bin/env python3
"""Real-browser check of the admin page: a person works through a queue of ten mentions.

Usage:  python3 tests/browser/moderate.py path/to/linkback-binary
        (tests/browser/run.py runs it too, after its own scenario)

Needs what run.py needs: Node.js 20+, Debian's ``chromium`` and ``playwright-core`` from
tests/browser/package-lock.json (``npm ci`` in tests/browser). ``CHROMIUM=/path`` picks another
Chromium.

With tests/e2e/harness.py it starts an origin on 127.0.0.1 serving ten blog posts, on ten hosts
(``[fetch.resolve]``), that link to an article of the site ``journal`` (``moderation =
"manual"``), and the Linkback binary with an admin token. It sends the ten pingbacks with
``xmlrpc.client`` (one post is titled ``<script>alert(1)</script>``, another quotes
``<img src=x onerror=alert(2)>`` around the link), waits until all ten are pending, and hands
the queue to ``node tests/browser/moderate.mjs <json>``, which signs in and works it by keyboard
and clicks in headless Chromium (screenshots in target/browser/). Afterwards it checks through
the JSON API (``/admin/api/mentions``, ``/admin/api/audit``, ``/admin/api/rules``) and the public
listing that every mention ended where the clicks put it:

    #0 approved (a)        #1 spam (k, s)          #2 approved (j, a)
    #3 rejected (a click on Reject, in a browser with JavaScript off)
    #4 spam + a block rule for its host (a click on "Block evil.test")
    #5-#9 approved (x, "select all", then the bulk Approve button)
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
import urllib.parse
import xmlrpc.client
from html import escape
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import harness  # noqa: E402 (the shared origin, service and runner)
from harness import expect, short  # noqa: E402

import relay  # noqa: E402

MODERATE_SCRIPT = HERE / "moderate.mjs"
SCREENSHOT_DIR = ROOT / "target" / "browser"
SETTLE_TIMEOUT_S = 20.0

SITE = "journal"
ARTICLE = "http://journal.test/2026/11/working-the-queue/"
HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_EXCERPT_BIT = "<img src=x onerror=alert(2)>"
BLOCKED_HOST = "evil.test"

# (host, title) of the ten posts, in the order they are sent (= the queue's order).
POSTS = [
    ("alpha.test", "Notes on keeping a moderation queue short"),
    ("bravo.test", "Cheap watches and other bargains"),
    ("charlie.test", "A reply about queues and patience"),
    ("delta.test", "Why I disagree with this post"),
    (BLOCKED_HOST, HOSTILE_TITLE),
    ("foxtrot.test", "Quoting markup in a blog post"),
    ("golf.test", "Further reading for the weekend"),
    ("hotel.test", "A long answer in three parts"),
    ("india.test", "Links I liked this week"),
    ("juliet.test", "On writing about moderation"),
]

# Where each mention must end, by its position in POSTS.
EXPECTED = ["approved", "spam", "approved", "rejected", "spam",
            "approved", "approved", "approved", "approved", "approved"]


def page(title_html: str, body_html: str) -> str:
    return ('<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
            f"<title>{title_html}</title></head>\n<body>\n<article>{body_html}</article>\n</body>\n</html>\n")


class ModerationScenario(harness.Scenario):
    def __init__(self, binary: str) -> None:
        super().__init__(binary, prefix="linkback-moderate-")
        self.admin_token = secrets.token_urlsafe(18)
        self.sources = [f"http://{host}/2026/11/reply-{i}/" for i, (host, _) in enumerate(POSTS)]
        self.mentions: list[dict] = []  # the ten, oldest first, once pending
        self.audit_before = 0

    def build_pages(self) -> None:
        link = f'<a href="{escape(ARTICLE)}">the post about working the queue</a>'
        for i, ((host, title), source) in enumerate(zip(POSTS, self.sources)):
            if host == "foxtrot.test":
                body = (f"<p>The markup &lt;img src=x onerror=alert(2)&gt; shows as text when {link} "
                        "renders it, which is the point of escaping.</p>")
            else:
                body = (f"<p>Post number {i + 1}. I read {link} this morning and wanted to add a "
                        "few thoughts of my own about how moderation works in practice.</p>")
            self.origin.put_html(source, page(escape(title), body))

    def write_config(self) -> None:
        harness.write_config(
            self.config, self.data_dir,
            resolve={host: f"127.0.0.1:{self.origin.port}" for host, _ in POSTS},
            extra=f"[admin]\ntoken = {harness.toml_str(self.admin_token)}",
            sites=[(SITE, ["http://journal.test/"], {"moderation": "manual"})])

    # -- the JSON API, with the admin token

    def api(self, path: str) -> dict:
        status, _, body = self.linkback.http(
            "GET", path, headers={"Authorization": f"Bearer {self.admin_token}"})
        expect(status == 200, f"GET {path} -> HTTP {status}: {body[:300]!r}")
        return json.loads(body)

    def site_mentions(self) -> list[dict]:
        return self.api(f"/admin/api/mentions?site={SITE}&limit=500")["mentions"]

    # -- checks

    def check_send(self) -> None:
        problems = []
        with xmlrpc.client.ServerProxy(f"{self.linkback.base}/xmlrpc") as proxy:
            for source in self.sources:
                try:
                    proxy.pingback.ping(source, ARTICLE)
                except xmlrpc.client.Fault as f:
                    problems.append(f"{source}: fault {f.faultCode} {f.faultString!r}")
        expect(not problems, "; ".join(problems))

    def check_all_pending(self) -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            mentions = self.site_mentions()
            if (len(mentions) == len(POSTS) and all(m["status"] == "pending" for m in mentions)) \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        got = sorted((m["source"], m["status"]) for m in mentions)
        want = sorted((s, "pending") for s in self.sources)
        expect(got == want, f"not ten pending mentions:\n  want {short(want)}\n  got  {short(got)}")
        by_source = {m["source"]: m for m in mentions}
        self.mentions = [by_source[s] for s in self.sources]
        ids = [m["id"] for m in self.mentions]
        expect(ids == sorted(ids), f"ids not in sending order: {ids}")
        expect(self.mentions[4]["title"] == HOSTILE_TITLE,
               f"hostile title stored as {self.mentions[4]['title']!r}")
        expect(HOSTILE_EXCERPT_BIT in (self.mentions[5]["excerpt"] or ""),
               f"excerpt stored as {self.mentions[5]['excerpt']!r}")
        expect(self.linkback.mentions(ARTICLE) == [], "a pending mention is public")
        self.audit_before = len(self.api("/admin/api/audit?limit=500")["entries"])

    def browser_args(self) -> dict:
        return {
            "chromium": os.environ.get("CHROMIUM", "/usr/bin/chromium"),
            "service": self.linkback.base,
            "token": self.admin_token,
            "screenshots": str(SCREENSHOT_DIR),
            "hostile": {"title": HOSTILE_TITLE, "excerpt": HOSTILE_EXCERPT_BIT},
            "blocked_host": BLOCKED_HOST,
            "mentions": [{k: m.get(k) for k in ("id", "source", "title", "excerpt")}
                         for m in self.mentions],
        }

    def run_browser(self, runner: harness.Runner) -> None:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        relay.run_node_checks(runner, MODERATE_SCRIPT, self.browser_args())

    def check_statuses(self) -> None:
        by_id = {m["id"]: m for m in self.site_mentions()}
        problems = []
        for i, (mention, want) in enumerate(zip(self.mentions, EXPECTED)):
            got = by_id.get(mention["id"], {})
            if got.get("status") != want or got.get("decided_by") != "admin":
                problems.append(f"#{i} {mention['source']}: {got.get('status')!r} by "
                                f"{got.get('decided_by')!r}, want {want!r} by 'admin'")
        expect(not problems, "; ".join(problems))

    def check_audit(self) -> None:
        entries = self.api("/admin/api/audit?limit=500")["entries"]
        new = list(reversed(entries[:len(entries) - self.audit_before]))
        changes = [(e["mention_id"], e["to"]) for e in new if e["action"] == "set_status"]
        want = [(m["id"], status) for m, status in zip(self.mentions, EXPECTED)]
        expect(sorted(changes) == sorted(want) and len(changes) == len(POSTS),
               f"status changes audited:\n  want {short(want)}\n  got  {short(changes)}")
        rules = [e for e in new if e["action"] == "add_rule"]
        expect(len(rules) == 1 and rules[0]["site"] == SITE, f"rule audit entries: {short(rules)}")
        expect(all(e["actor"] == "admin" for e in new), f"actors: {short([e['actor'] for e in new])}")
        expect(len(new) == len(POSTS) + 1, f"{len(new)} new audit entries: {short(new)}")
        # The order of the clicks: the keyboard ones first, then reject, block, bulk.
        order = [e["mention_id"] for e in new if e["action"] == "set_status"][:5]
        ids = [m["id"] for m in self.mentions]
        expect(order == [ids[0], ids[2], ids[1], ids[3], ids[4]],
               f"first five changes in the order {order}, want {[ids[0], ids[2], ids[1], ids[3], ids[4]]}")

    def check_rule(self) -> None:
        rules = self.api("/admin/api/rules")["rules"]
        got = [(r["site"], r["kind"], r["value"], r["action"], r["created_by"]) for r in rules]
        expect(got == [(SITE, "domain", BLOCKED_HOST, "block", "admin")], f"rules: {short(rules)}")

    def check_blocked_host_refused(self) -> None:
        source = f"http://{BLOCKED_HOST}/2026/11/another/"
        self.origin.put_html(source, page("Another", f'<p><a href="{escape(ARTICLE)}">x</a></p>'))
        try:
            with xmlrpc.client.ServerProxy(f"{self.linkback.base}/xmlrpc") as proxy:
                answer = proxy.pingback.ping(source, ARTICLE)
        except xmlrpc.client.Fault as f:
            expect(f.faultCode == 49, f"fault {f.faultCode}: {f.faultString!r}")
            return
        raise harness.CheckFailed(f"the blocked host's next pingback was accepted: {answer!r}")

    def check_public_listing(self) -> None:
        got = sorted(m["source"] for m in self.linkback.mentions(ARTICLE))
        want = sorted(s for s, status in zip(self.sources, EXPECTED) if status == "approved")
        expect(got == want, f"public listing:\n  want {short(want)}\n  got  {short(got)}")

    # -- the plan

    def run(self, runner: harness.Runner) -> None:
        s = self
        s.origin.start()
        s.build_pages()
        s.write_config()
        if not runner.check("admin page: linkback starts with a manually moderated site and an "
                            "admin token", s.linkback.start):
            runner.skip_rest(["every admin page check"], "the service did not start")
            return
        runner.check("admin page: ten pingbacks are sent with xmlrpc.client", s.check_send)
        if not runner.check("admin page: all ten are held pending, hostile text stored verbatim",
                            s.check_all_pending):
            runner.skip_rest(["the admin page in the browser"], "the queue is not ten pending mentions")
            return
        s.run_browser(runner)
        runner.check("admin page: each of the ten ended where the clicks put it "
                     "(/admin/api/mentions, decided by admin)", s.check_statuses)
        runner.check("admin page: the audit log has the ten changes and the rule, in click order",
                     s.check_audit)
        runner.check("admin page: block domain made one site rule for evil.test (/admin/api/rules)",
                     s.check_rule)
        runner.check("admin page: the blocked host's next pingback is refused (fault 49)",
                     s.check_blocked_host_refused)
        runner.check("admin page: the public listing holds exactly the seven approved",
                     s.check_public_listing)


def main(argv: list[str]) -> int:
    return harness.main(argv, ModerationScenario, explain={
        xmlrpc.client.Fault: lambda f: f"unexpected Fault {f.faultCode}: {f.faultString!r}",
    })


if __name__ == "__main__":
    sys.exit(main(sys.argv))
