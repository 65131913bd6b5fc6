#!/usr/bin/env python3
"""Real-browser check: what a person sees of Linkback's embed and the site owner's page.

Usage:  python3 tests/browser/run.py path/to/linkback-binary

Needs: Node.js 20+ (playwright-core 1.65 needs it), Debian's ``chromium`` (``apt-get install -y chromium``) and
``playwright-core`` installed from tests/browser/package-lock.json (``npm ci`` in
tests/browser; it downloads no browser). ``CHROMIUM=/path`` picks another Chromium.

The script starts, with tests/e2e/harness.py,

* an origin on 127.0.0.1 that serves
  - the seed article (tests/fixtures/seed/target.html) at ``/articles/hello/``, ending with
    ``<script src="<service>/embed.js?target=<that page>" async>``, as a blog would include it;
  - a second article at ``/articles/second/`` that gives the embed a ``#linkback-mentions`` slot;
  - a page embedding the mentions of a manually moderated site's article (none are public yet);
  - the pages that link to them (hosts resolved to the origin by ``[fetch.resolve]``): the two
    seed reposts, and hostile ones: a title ``<script>alert(1)</script>``, an excerpt holding
    ``<img src=x onerror=alert(2)>``, an author ``"><svg onload=alert(3)>``;
* the Linkback binary on a config with two sites: ``checkpointasia`` (automatic moderation,
  the origin and checkpointasia.net) and ``notebook`` (manual moderation), each with a token,
  and an admin token; ``public_url`` is the service's address so embed.js points back at it;

then sends 10 approved mentions over 3 articles (6, 3 and 1; pingbacks, a trackback and a
webmention), one webmention that ends ``rejected`` and one pingback held ``pending``, checks the
Atom feeds with ``xml.etree``, and hands the rest to ``node tests/browser/check.mjs <json>``,
which drives headless Chromium (screenshots go to target/browser/). Its ``ok``/``FAIL`` lines
are relayed.

Then, on a service and origin of its own, the admin page's scenario (tests/browser/moderate.py:
a queue of ten pending mentions worked through in the browser by keyboard and clicks).

The very last line is ``N passed, M failed`` for everything; exit status 0 only if every check
passed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
import urllib.parse
import xml.etree.ElementTree as ET
import xmlrpc.client
from html import escape
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import harness  # noqa: E402 (the shared origin, service and runner)
from harness import CheckFailed, expect, short  # noqa: E402

import moderate  # noqa: E402 (the admin page's scenario, run after this one)
import relay  # noqa: E402 (runs a node check script, relays its lines)

SEED = ROOT / "tests" / "fixtures" / "seed"
CHECK_SCRIPT = HERE / "check.mjs"
SCREENSHOT_DIR = ROOT / "target" / "browser"
NODE_TIMEOUT_S = 180
SETTLE_TIMEOUT_S = 20.0

ATOM = "{http://www.w3.org/2005/Atom}"

HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_EXCERPT_BIT = "<img src=x onerror=alert(2)>"
HOSTILE_AUTHOR = '"><svg onload=alert(3)>'

FR_HOST, IT_HOST, BLOG_HOST, EVIL_HOST = "fr.example.org", "it.example.org", "blog.test", "evil.test"
NOTEBOOK_TARGET = "http://notebook.test/post/"


def page(title_html: str, body_html: str, head_extra: str = "", lang: str = "en") -> str:
    return (f'<!DOCTYPE html>\n<html lang="{lang}">\n<head><meta charset="utf-8">'
            f"<title>{title_html}</title>{head_extra}</head>\n<body>\n{body_html}\n</body>\n</html>\n")


class PinnedLinkback(harness.Linkback):
    """The binary on a port chosen before the config is written (``public_url`` names it)."""

    def __init__(self, *args, port: int) -> None:
        super().__init__(*args)
        self.pinned_port = port
        self.port = port  # so ``base`` is right before start

    def start(self) -> None:
        chooser = harness.free_port
        harness.free_port = lambda: self.pinned_port
        try:
            super().start()
        finally:
            harness.free_port = chooser


class BrowserScenario(harness.Scenario):
    def __init__(self, binary: str) -> None:
        super().__init__(binary, prefix="linkback-browser-")
        self.linkback = PinnedLinkback(binary, self.config, self.data_dir,
                                       self.tmp / "linkback.log", port=harness.free_port())
        self.seed = json.loads((SEED / "expected.json").read_text(encoding="utf-8"))
        self.seed_target: str = self.seed["target"]
        self.site_token = secrets.token_urlsafe(18)
        self.notebook_token = secrets.token_urlsafe(18)
        self.admin_token = secrets.token_urlsafe(18)
        o = self.origin.base
        self.hello = f"{o}/articles/hello/"
        self.second = f"{o}/articles/second/"
        self.notebook_page = f"{o}/articles/notebook-embed/"
        # (source, target, protocol) of every mention sent; filled by build_pages.
        self.approved: list[tuple[str, str, str]] = []
        self.rejected_source = f"http://{BLOG_HOST}/nolink/"
        self.pending_source = f"http://{BLOG_HOST}/notebook-reply/"
        self.trackback_fields: dict[str, str] = {}
        self.by_target: dict[str, list[dict]] = {}
        self.build_pages()

    # -- the origin's pages

    def build_pages(self) -> None:
        svc = self.linkback.base  # the pinned port is known already
        o = self.origin
        hello, second, seed_target = self.hello, self.second, self.seed_target

        def embed_tag(target: str) -> str:
            query = urllib.parse.urlencode({"target": target})
            return f'<script src="{escape(svc)}/embed.js?{escape(query)}" async></script>'

        # The seed article as its blog would serve it, mentions included client-side.
        article = (SEED / "target.html").read_text(encoding="utf-8")
        article = article.replace("http://127.0.0.1:8080", svc)
        article = article.replace(
            "</article>",
            f'<section class="linkbacks">\n<h2>Linkbacks</h2>\n{embed_tag(hello)}\n</section>\n</article>', 1)
        o.put_html(hello, article)
        o.put_html(second, page(
            "A second article",
            "<article><h1>A second article</h1><p>Shorter, with a slot for its mentions.</p>\n"
            '<h2>Mentions</h2><div id="linkback-mentions"></div>\n'
            f"<p>End of the article.</p>{embed_tag(second)}</article>"))
        o.put_html(self.notebook_page, page(
            "Notebook post",
            f'<article><h1>Notebook post</h1><div id="linkback-mentions"></div>{embed_tag(NOTEBOOK_TARGET)}</article>'))

        # The seed reposts, linking to our article instead of checkpointasia.net.
        for mention in self.seed["mentions"]:
            source = mention["source"]
            spec = self.seed["pages"][source]
            body = (SEED / spec["file"]).read_bytes().replace(seed_target.encode(), hello.encode())
            o.put(source, spec["content_type"], body)
            self.approved.append((source, hello, "pingback"))

        def source_page(url: str, target: str, title_html: str, body: str, head: str = "",
                        protocol: str = "pingback") -> None:
            o.put_html(url, page(title_html, body.replace("TARGET", escape(target)), head))
            if protocol:
                self.approved.append((url, target, protocol))

        # Hostile pages: the tags below are text the service must show as text.
        source_page(f"http://{EVIL_HOST}/title/", hello, HOSTILE_TITLE,
                    '<article><p>A reply that quotes <a href="TARGET">Putin’s declaration of victory</a> '
                    "at length.</p></article>")
        source_page(f"http://{EVIL_HOST}/excerpt/", hello, "Quoting the markup",
                    "<article><p>Look: &lt;img src=x onerror=alert(2)&gt; and "
                    "&lt;/ol&gt;&lt;script&gt;alert(5)&lt;/script&gt; then "
                    '<a href="TARGET">the article</a> says the rest.</p>'
                    "<p><img src=x onerror=alert(2)></p></article>")
        source_page(f"http://{EVIL_HOST}/author/", hello, "An author with a strange name",
                    '<article><p>As <a href="TARGET">Checkpoint Asia argues</a>, Libya is next.</p></article>',
                    head=f'<meta name="author" content="{escape(HOSTILE_AUTHOR)}">')
        # A trackback: its title, excerpt and blog name are the sender's.
        tb = f"http://{BLOG_HOST}/hello-trackback/"
        source_page(tb, hello, "Trackback page",
                    '<p>Read <a href="TARGET">this analysis</a> of the withdrawal.</p>', protocol="trackback")
        self.trackback_fields = {"url": tb, "title": "Notes on the Syria withdrawal",
                                 "excerpt": "Read this analysis of the withdrawal.",
                                 "blog_name": "Blog Test"}
        # The second article: two pingbacks and a webmention.
        for slug, title in (("second-a", "First reply to the second article"),
                            ("second-b", "Second reply to the second article")):
            source_page(f"http://{BLOG_HOST}/{slug}/", second, title,
                        f'<p>{title}: <a href="TARGET">see here</a>.</p>')
        source_page(f"http://{BLOG_HOST}/second-webmention/", second, "A webmention reply",
                    '<div class="h-entry"><p>Replying to <a href="TARGET">the second article</a>.</p></div>',
                    protocol="webmention")
        # The checkpointasia.net article itself: one mention.
        source_page(f"http://{BLOG_HOST}/seed-quote/", seed_target, "A quote of the original",
                    '<p>The original: <a href="TARGET">Putin’s Declaration of Victory</a>.</p>')
        # Ends rejected (no link), and held pending (manual moderation).
        source_page(self.rejected_source, hello, "No link here",
                    "<p>This page talks about the article without linking to it.</p>", protocol="")
        source_page(self.pending_source, NOTEBOOK_TARGET, "A reply awaiting moderation",
                    '<p>Nice <a href="TARGET">notebook post</a>.</p>', protocol="")

    def write_config(self) -> None:
        o = self.origin.port
        harness.write_config(
            self.config, self.data_dir, public_url=self.linkback.base,
            resolve={h: f"127.0.0.1:{o}" for h in (FR_HOST, IT_HOST, BLOG_HOST, EVIL_HOST)},
            extra=f"[admin]\ntoken = {harness.toml_str(self.admin_token)}",
            sites=[
                ("checkpointasia", ["https://checkpointasia.net/", self.origin.base + "/"],
                 {"token": self.site_token}),
                ("notebook", ["http://notebook.test/"],
                 {"moderation": "manual", "token": self.notebook_token}),
            ])

    # -- senders

    def pingback(self, source: str, target: str) -> str:
        with xmlrpc.client.ServerProxy(f"{self.linkback.base}/xmlrpc") as proxy:
            return proxy.pingback.ping(source, target)

    def post_form(self, path: str, fields: dict[str, str]) -> tuple[int, bytes]:
        status, _, body = self.linkback.http(
            "POST", path, body=urllib.parse.urlencode(fields).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        return status, body

    def owner_mentions(self, site: str, token: str) -> list[dict]:
        status, _, body = self.linkback.http(
            "GET", f"/api/site/{site}/mentions?limit=500", headers={"Authorization": f"Bearer {token}"})
        expect(status == 200, f"GET /api/site/{site}/mentions -> HTTP {status}: {body[:300]!r}")
        data = json.loads(body)
        return data["mentions"]

    # -- checks

    def check_send_mentions(self) -> None:
        problems = []
        for source, target, protocol in self.approved:
            if protocol == "pingback":
                try:
                    self.pingback(source, target)
                except xmlrpc.client.Fault as f:
                    problems.append(f"pingback {source}: fault {f.faultCode} {f.faultString!r}")
            elif protocol == "trackback":
                q = urllib.parse.urlencode({"target": target})
                status, body = self.post_form(f"/trackback?{q}", self.trackback_fields)
                if status != 200 or b"<error>0</error>" not in body:
                    problems.append(f"trackback {source}: HTTP {status} {body[:200]!r}")
            else:
                status, body = self.post_form("/webmention", {"source": source, "target": target})
                if status not in (201, 202):
                    problems.append(f"webmention {source}: HTTP {status} {body[:200]!r}")
        expect(not problems, "; ".join(problems))

    def check_send_rejected(self) -> None:
        status, body = self.post_form("/webmention", {"source": self.rejected_source, "target": self.hello})
        expect(status in (201, 202), f"HTTP {status}: {body[:200]!r}")

    def check_send_pending(self) -> None:
        answer = self.pingback(self.pending_source, NOTEBOOK_TARGET)
        expect(isinstance(answer, str) and answer, f"pingback answered {answer!r}")

    def check_settled(self) -> None:
        """Waits for the asynchronous verifications, then pins what the browser must show."""
        want = {t: sorted(s for s, tt, _ in self.approved if tt == t)
                for t in (self.hello, self.second, self.seed_target)}
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            got = {t: sorted(m["source"] for m in self.linkback.mentions(t)) for t in want}
            owner = self.owner_mentions("checkpointasia", self.site_token)
            rejected = [m for m in owner if m["source"] == self.rejected_source]
            settled = got == want and rejected and rejected[0]["status"] == "rejected"
            if settled or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        expect(got == want, f"approved listings differ:\n  want {short(want)}\n  got  {short(got)}")
        expect(bool(rejected) and rejected[0]["status"] == "rejected",
               f"the link-less webmention is not rejected: {short(rejected)}")
        notebook = self.owner_mentions("notebook", self.notebook_token)
        expect([(m["source"], m["status"]) for m in notebook] == [(self.pending_source, "pending")],
               f"notebook site: {short(notebook)}")
        expect(self.linkback.mentions(NOTEBOOK_TARGET) == [], "a pending mention is public")
        self.by_target = {t: self.linkback.mentions(t) for t in want}
        self.owner_all = owner

    def check_hostile_text_stored(self) -> None:
        hello = {m["source"]: m for m in self.by_target[self.hello]}
        title = hello[f"http://{EVIL_HOST}/title/"]["title"]
        excerpt = hello[f"http://{EVIL_HOST}/excerpt/"]["excerpt"] or ""
        author = hello[f"http://{EVIL_HOST}/author/"]["author"]
        expect(title == HOSTILE_TITLE, f"title stored as {title!r}")
        expect(HOSTILE_EXCERPT_BIT in excerpt, f"excerpt stored as {excerpt!r}")
        expect(author == HOSTILE_AUTHOR, f"author stored as {author!r}")

    def _feed(self, query: dict[str, str]) -> tuple[ET.Element, str]:
        path = "/feed?" + urllib.parse.urlencode(query)
        status, headers, body = self.linkback.http("GET", path)
        expect(status == 200, f"GET {path} -> HTTP {status}: {body[:300]!r}")
        ctype = headers.get("content-type", "")
        expect(ctype.startswith("application/atom+xml"), f"Content-Type {ctype!r}")
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            raise CheckFailed(f"not well-formed XML ({e}): {body[:300]!r}") from None
        expect(root.tag == f"{ATOM}feed", f"root element {root.tag!r}")
        return root, path

    def _check_feed(self, query: dict[str, str], mentions: list[dict]) -> None:
        root, path = self._feed(query)
        problems = []
        for name in ("id", "title", "updated"):  # RFC 4287 §4.1.1: required once
            if len(root.findall(f"{ATOM}{name}")) != 1:
                problems.append(f"feed has {len(root.findall(f'{ATOM}{name}'))} <{name}>")
        by_id = {str(m["id"]): m for m in mentions}
        entries = root.findall(f"{ATOM}entry")
        if len(entries) != len(mentions):
            problems.append(f"{len(entries)} entries for {len(mentions)} approved mentions")
        seen = []
        for entry in entries:
            entry_id = entry.findtext(f"{ATOM}id") or ""
            for name in ("id", "title", "updated"):
                if len(entry.findall(f"{ATOM}{name}")) != 1:
                    problems.append(f"entry {entry_id!r} lacks exactly one <{name}>")
            if entry.find(f"{ATOM}author/{ATOM}name") is None:
                problems.append(f"entry {entry_id!r} has no author name")
            mention_id = entry_id.rsplit(":", 1)[-1]
            mention = by_id.get(mention_id)
            if mention is None:
                problems.append(f"entry {entry_id!r} is no approved mention ({sorted(by_id)})")
                continue
            seen.append(mention_id)
            links = [link.get("href") for link in entry.findall(f"{ATOM}link")
                     if link.get("rel", "alternate") == "alternate"]
            if links != [mention["source"]]:
                problems.append(f"entry {entry_id!r}: alternate links {links} != [{mention['source']!r}]")
            title = entry.findtext(f"{ATOM}title")
            if mention.get("title") and title != mention["title"]:
                problems.append(f"entry {entry_id!r}: title {title!r} != {mention['title']!r}")
        if sorted(seen) != sorted(by_id):
            problems.append(f"entries {sorted(seen)} != mentions {sorted(by_id)}")
        expect(not problems, f"{path}: " + "; ".join(problems))

    def check_feed_article(self) -> None:
        self._check_feed({"target": self.hello}, self.by_target[self.hello])
        root, _ = self._feed({"target": self.hello})
        titles = [e.findtext(f"{ATOM}title") for e in root.findall(f"{ATOM}entry")]
        expect(HOSTILE_TITLE in titles, f"the hostile title is not an entry title as text: {titles}")

    def check_feed_site(self) -> None:
        everything = [m for ms in self.by_target.values() for m in ms]
        self._check_feed({"site": "checkpointasia"}, everything)

    def check_feed_pending_site(self) -> None:
        self._check_feed({"site": "notebook"}, [])

    def browser_args(self) -> dict:
        def public(m: dict) -> dict:
            return {k: m.get(k) for k in ("id", "source", "title", "excerpt", "author", "status")}

        site_articles = []
        grouped: dict[str, list[dict]] = {}
        for m in self.owner_all:
            grouped.setdefault(m["target"], []).append(m)
        for target, ms in grouped.items():
            approved = sum(1 for m in ms if m["status"] == "approved")
            site_articles.append({"target": target, "approved": approved, "count": len(ms),
                                  "mentions": [public(m) for m in ms]})
        site_articles.sort(key=lambda a: (-a["approved"], -a["count"], a["target"]))
        fr = self.seed["mentions"][0]
        return {
            "chromium": os.environ.get("CHROMIUM", "/usr/bin/chromium"),
            "service": self.linkback.base,
            "origin": self.origin.base,
            "screenshots": str(SCREENSHOT_DIR),
            "hostile": {"title": HOSTILE_TITLE, "excerpt": HOSTILE_EXCERPT_BIT, "author": HOSTILE_AUTHOR},
            "embeds": [
                {"name": "seed article (list after its script)", "page": self.hello, "target": self.hello,
                 "placement": "after-script", "screenshot": "embed.png",
                 "mentions": [public(m) for m in self.by_target[self.hello]],
                 "visible_text": [fr["display"]]},
                {"name": "second article (#linkback-mentions slot)", "page": self.second,
                 "target": self.second, "placement": "slot",
                 "mentions": [public(m) for m in self.by_target[self.second]]},
                {"name": "manually moderated article (pending only)", "page": self.notebook_page,
                 "target": NOTEBOOK_TARGET, "placement": "slot", "mentions": []},
            ],
            "site": {"name": "checkpointasia", "url": f"{self.linkback.base}/site/checkpointasia",
                     "token": self.site_token, "articles": site_articles,
                     "screenshot": "site.png"},
            "pending_site": {"name": "notebook", "url": f"{self.linkback.base}/site/notebook",
                             "token": self.notebook_token, "admin_token": self.admin_token,
                             "pending_title": "A reply awaiting moderation"},
        }

    def run_browser(self, runner: harness.Runner) -> None:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        relay.run_node_checks(runner, CHECK_SCRIPT, self.browser_args(), NODE_TIMEOUT_S)

    # -- the plan

    def run(self, runner: harness.Runner) -> None:
        s = self
        s.origin.start()
        s.write_config()
        if not runner.check("linkback starts with two sites, tokens and public_url", s.linkback.start):
            runner.skip_rest(["every other check"], "the service did not start")
            return
        runner.check("10 approved mentions over 3 articles are sent (pingback, trackback, webmention)",
                     s.check_send_mentions)
        runner.check("a webmention from a page without the link is accepted", s.check_send_rejected)
        runner.check("a pingback to the manually moderated site is accepted", s.check_send_pending)
        if not runner.check("the listings settle: 6, 3 and 1 approved, 1 rejected, 1 pending",
                            s.check_settled):
            runner.skip_rest(["feeds and browser checks"], "the mentions did not settle")
            return
        runner.check("hostile title, excerpt and author are stored verbatim", s.check_hostile_text_stored)
        runner.check("Atom /feed?target=: well-formed (xml.etree), an entry per approved mention, "
                     "link = source", s.check_feed_article)
        runner.check("Atom /feed?site=checkpointasia: all 10 approved, link = source", s.check_feed_site)
        runner.check("Atom /feed?site=notebook: the pending mention is not published",
                     s.check_feed_pending_site)
        s.run_browser(runner)


class BothScenarios:
    """This file's scenario, then the admin page's (moderate.py), each on its own service and
    origin, counted together so that the last line sums both."""

    def __init__(self, binary: str) -> None:
        self.parts: list[harness.Scenario] = []
        self.parts.append(BrowserScenario(binary))
        self.parts.append(moderate.ModerationScenario(binary))

    def run(self, runner: harness.Runner) -> None:
        for part in self.parts:
            failed_before = runner.failed
            part.run(runner)
            if runner.failed > failed_before:
                part.print_log()
            part.cleanup()

    def print_log(self) -> None:
        pass  # each part printed its own log right after it failed

    def cleanup(self) -> None:
        for part in self.parts:
            part.cleanup()


def main(argv: list[str]) -> int:
    if shutil.which("node") is None:
        print("FAIL - setup: node is not on PATH (apt-get install -y nodejs npm)")
        print("0 passed, 1 failed")
        return 1
    return harness.main(argv, BothScenarios, explain={
        xmlrpc.client.Fault: lambda f: f"unexpected Fault {f.faultCode}: {f.faultString!r}",
    })


if __name__ == "__main__":
    sys.exit(main(sys.argv))
