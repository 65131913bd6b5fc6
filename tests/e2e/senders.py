#!/usr/bin/env python3
"""End-to-end check: drive a built Linkback binary with real trackback and webmention senders.

Usage:  python3 tests/e2e/senders.py path/to/linkback-binary

Needs: ``curl`` on PATH (the trackback sender) and the published webmention sender
``indieweb-utils`` (``python3 -m pip install -r tests/e2e/requirements.txt``).

The script starts

* an origin (``http.server``, see harness.py) on 127.0.0.1 serving
  - our article ``http://127.0.0.1:<origin>/articles/hello/``, which advertises the
    service's webmention endpoint in a ``Link:`` header and a ``<link rel="webmention">``
    (the sender discovers the endpoint there, as it would on a real blog),
  - trackback source pages at ``http://blog.test/…`` (resolved to the origin through
    ``[fetch.resolve]``),
  - webmention source pages at ``http://127.0.0.1:<origin>/…``, whose content and status
    the checks change (new title, 410 Gone, link removed) and one that answers slowly;
* the Linkback binary (``serve``) on a temporary config and data directory, whose sites
  are ``http://127.0.0.1:<origin>/articles/`` and ``https://checkpointasia.net/``,

then runs one check per behaviour: trackbacks with ``curl`` (UTF-8, ISO-8859-1,
windows-1252 and Shift_JIS bodies, the error answers), webmentions with
``indieweb_utils.send_webmention`` (201 + status URL, asynchronous verification,
update, deletion by 410 / meta 410 / removed link, trackback + webmention on one
source), the synchronous 400s with urllib, and a webmention accepted just before a
SIGKILL that must be verified after the restart. It prints ``ok - name`` or
``FAIL - name: details`` per check and, as the very last line, ``N passed, M failed``.
Exit status 0 only if every check passed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from html import escape
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402 (the shared origin, config, service and runner)
from harness import CheckFailed, expect, parse_rfc3339, short  # noqa: E402

try:  # the published webmention sender under test
    import indieweb_utils
except ImportError as e:  # reported by the webmention checks, after the trackback ones ran
    indieweb_utils = None
    INDIEWEB_UTILS_ERROR = f"{type(e).__name__}: {e}"
else:
    INDIEWEB_UTILS_ERROR = ""

INSTALL_HINT = "install it with: python3 -m pip install -r tests/e2e/requirements.txt"

CURL_TIMEOUT_S = 30
SEND_TIMEOUT_S = 30.0
POLL_TIMEOUT_S = 20.0
RESTART_POLL_TIMEOUT_S = 40.0
SLOW_SOURCE_DELAY_S = 3.0
MAX_TITLE_CHARS = 200
MAX_EXCERPT_CHARS = 300

BLOG_HOST = "blog.test"
BLOG = f"http://{BLOG_HOST}"
SEED_TARGET = "https://checkpointasia.net/"
FOREIGN_TARGET = "https://other.example.com/post/"

MENTION_KEYS = {
    "id", "protocol", "protocols", "source", "target", "title", "excerpt", "author",
    "status", "received_at", "verified_at",
}
WEBMENTION_STATUSES = {"queued", "verified", "rejected", "deleted"}


def source_html(title: str, paragraph: str, link_to: str | None, head: str = "") -> str:
    """A blog post; ``paragraph`` holds the link to ``link_to`` (None: no link at all)."""
    if link_to is not None:
        body = f'<p>{escape(paragraph)} <a href="{escape(link_to)}">the hello article</a>.</p>'
    else:
        body = f"<p>{escape(paragraph)} (no link here)</p>"
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{escape(title)}</title>{head}</head>
<body>
<article class="h-entry">
<h1 class="p-name">{escape(title)}</h1>
<div class="e-content">
{body}
<p>Elsewhere: <a href="https://www.example.com/">another site</a>.</p>
</div>
</article>
</body>
</html>
"""


class SendersScenario(harness.Scenario):
    def __init__(self, binary: str) -> None:
        super().__init__(binary, prefix="linkback-senders-")
        o = self.origin.base
        self.article = f"{o}/articles/hello/"
        # trackback sources (blog.test, through [fetch.resolve])
        self.tb_utf8 = f"{BLOG}/tb/utf8/"
        self.tb_latin1 = f"{BLOG}/tb/latin1/"
        self.tb_cp1252 = f"{BLOG}/tb/cp1252/"
        self.tb_sjis = f"{BLOG}/tb/sjis/"
        self.tb_long = f"{BLOG}/tb/long/"
        self.tb_nolink = f"{BLOG}/tb/nolink/"
        self.tb_missing = f"{BLOG}/tb/does-not-exist/"
        # webmention sources (loopback, fetchable by the sender too)
        self.wm_reply = f"{o}/wm/reply/"
        self.wm_meta_gone = f"{o}/wm/meta-gone/"
        self.wm_unlinked = f"{o}/wm/unlinked/"
        self.wm_cross = f"{o}/wm/cross/"
        self.wm_slow = f"{o}/wm/slow/"
        self.ids: dict[str, int] = {}  # source -> mention id seen in the listing
        self.status_urls: dict[str, str] = {}  # source -> last status URL from a 201
        self.slow_status_url = ""
        self.slow_send_seconds = -1.0
        self.slow_hits_at_kill = -1
        self.tmp_files = self.tmp / "bodies"
        self.tmp_files.mkdir()

        for url in (self.tb_utf8, self.tb_latin1, self.tb_cp1252, self.tb_sjis, self.tb_long):
            self.origin.put_html(url, source_html(
                "A page that links (its own title)", "This page links to", self.article))
        self.origin.put_html(self.tb_nolink, source_html(
            "A page without the link", "This page talks about the article but has no link", None))
        self.origin.put_html(self.wm_reply, source_html(
            "A reply to hello (v1)", "First version of my reply to", self.article))
        self.origin.put_html(self.wm_meta_gone, source_html(
            "A post to be withdrawn", "A post that links to", self.article))
        self.origin.put_html(self.wm_unlinked, source_html(
            "A post whose link will go", "A post that links to", self.article))
        self.origin.put_html(self.wm_cross, source_html(
            "One post, two protocols", "This post pings by trackback, then mentions", self.article))
        self.origin.put_html(self.wm_slow, source_html(
            "A slow blog", "A slow page that links to", self.article), delay=SLOW_SOURCE_DELAY_S)

    # -- setup

    def write_config(self) -> None:
        harness.write_config(
            self.config, self.data_dir,
            resolve={BLOG_HOST: f"127.0.0.1:{self.origin.port}"},
            sites=[("origin", [f"{self.origin.base}/articles/"]),
                   ("checkpointasia", [SEED_TARGET])],
            extra="[trackback]\nverify = true",
        )

    def advertise(self) -> None:
        """(Re)publishes the article, advertising the service's current webmention endpoint."""
        endpoint = f"{self.linkback.base}/webmention"
        html = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Hello</title>
<link rel="webmention" href="{endpoint}">
</head>
<body><article><h1>Hello</h1><p>Our article; mentions welcome.</p></article></body>
</html>
"""
        self.origin.put_html(self.article, html,
                             headers=[("Link", f'<{endpoint}>; rel="webmention"')])

    def start(self) -> None:
        self.linkback.start()
        self.advertise()

    # -- trackback through curl

    def curl_trackback(self, target: str, *, fields: dict[str, str] | None = None,
                       body: bytes | None = None, content_type: str | None = None
                       ) -> tuple[int, str, bytes]:
        """POSTs a trackback with ``curl -sS``; returns (HTTP status, Content-Type, body).

        ``fields`` go as ``--data-urlencode name=value`` (UTF-8, curl's own form encoding);
        ``body`` is written to a file and sent as ``--data-binary @file`` with ``content_type``.
        """
        url = f"{self.linkback.base}/trackback?target={urllib.parse.quote(target, safe='')}"
        out = self.tmp_files / f"answer-{time.monotonic_ns()}.xml"
        cmd = ["curl", "-sS", "--max-time", str(CURL_TIMEOUT_S), "-o", str(out),
               "-w", "%{http_code}\\n%{content_type}"]
        if body is not None:
            data = self.tmp_files / f"body-{time.monotonic_ns()}.txt"
            data.write_bytes(body)
            cmd += ["-H", f"Content-Type: {content_type}", "--data-binary", f"@{data}"]
        else:
            for name, value in (fields or {}).items():
                cmd += ["--data-urlencode", f"{name}={value}"]
        cmd.append(url)
        done = subprocess.run(cmd, capture_output=True, timeout=CURL_TIMEOUT_S + 10)
        if done.returncode != 0:
            raise CheckFailed(f"curl exited with {done.returncode}: "
                              f"{done.stderr.decode('utf-8', 'replace').strip()}")
        status, _, ctype = done.stdout.decode("ascii", "replace").partition("\n")
        return int(status), ctype.strip(), out.read_bytes() if out.exists() else b""

    @staticmethod
    def parse_trackback_answer(status: int, ctype: str, body: bytes) -> tuple[str, str | None]:
        """(error code text, message text or None) of a TrackBack 1.2 answer."""
        where = f"HTTP {status}, Content-Type {ctype!r}, body {body[:400]!r}"
        expect(status == 200, f"expected HTTP 200: {where}")
        expect(ctype.split(";")[0].strip().lower() == "text/xml", f"expected text/xml: {where}")
        try:
            root = ET.fromstring(body)
        except ET.ParseError as e:
            raise CheckFailed(f"answer is not XML ({e}): {where}") from None
        expect(root.tag == "response", f"root element is <{root.tag}>, not <response>: {where}")
        error = root.find("error")
        expect(error is not None and error.text is not None, f"no <error> in the answer: {where}")
        message = root.find("message")
        return error.text.strip(), (message.text if message is not None else None)

    def expect_trackback_ok(self, target: str, **kwargs) -> None:
        answer = self.curl_trackback(target, **kwargs)
        error, message = self.parse_trackback_answer(*answer)
        expect(error == "0", f"expected <error>0</error>, got {error!r} (message {message!r})")

    def expect_trackback_error(self, target: str, **kwargs) -> str:
        answer = self.curl_trackback(target, **kwargs)
        error, message = self.parse_trackback_answer(*answer)
        expect(error == "1", f"expected <error>1</error>, got {error!r}: {answer[2][:300]!r}")
        expect(message is not None and message.strip() != "",
               f"<error>1</error> without a non-empty <message>: {answer[2][:300]!r}")
        return message

    def form_file_trackback(self, source: str, encoding: str, charset: str,
                            title: str, excerpt: str, blog_name: str) -> None:
        body = urllib.parse.urlencode(
            {"url": source, "title": title, "excerpt": excerpt, "blog_name": blog_name},
            encoding=encoding,
        ).encode("ascii")
        self.expect_trackback_ok(
            self.article, body=body,
            content_type=f"application/x-www-form-urlencoded; charset={charset}")

    # -- the listing

    def find_mentions(self, source: str, target: str | None = None) -> list[dict]:
        mentions = self.linkback.mentions(target or self.article)
        return [m for m in mentions if isinstance(m, dict) and m.get("source") == source]

    def the_mention(self, source: str) -> dict:
        found = self.find_mentions(source)
        expect(len(found) == 1, f"expected one listed mention from {source}, found {len(found)}: "
                                f"{short(found)}")
        mention = found[0]
        missing = MENTION_KEYS - set(mention)
        expect(not missing, f"mention lacks {sorted(missing)}: {short(mention)}")
        expect(mention["target"] == self.article, f"target {mention['target']!r}")
        expect(mention["status"] == "approved", f"status {mention['status']!r}")
        expect(isinstance(mention["id"], int), f"id {mention['id']!r} is not an integer")
        expect(isinstance(mention["protocols"], list), f"protocols {mention['protocols']!r}")
        expect(mention["protocol"] in mention["protocols"],
               f"protocol {mention['protocol']!r} not in protocols {mention['protocols']!r}")
        for key in ("received_at", "verified_at"):
            parse_rfc3339(mention[key])
        return mention

    def expect_listed_fields(self, source: str, protocol: str, **want) -> dict:
        mention = self.the_mention(source)
        problems = [f"protocol {mention['protocol']!r} != {protocol!r}"] \
            if mention["protocol"] != protocol else []
        for key, value in want.items():
            if mention.get(key) != value:
                problems.append(f"{key} {mention.get(key)!r} != expected {value!r}")
        expect(not problems, "; ".join(problems) + f"\n  listed: {short(mention, 1200)}")
        self.ids[source] = mention["id"]
        return mention

    # -- webmention through indieweb-utils

    def sender(self):
        expect(indieweb_utils is not None,
               f"the webmention sender indieweb-utils is not importable ({INDIEWEB_UTILS_ERROR}); "
               + INSTALL_HINT)
        return indieweb_utils

    def send_webmention(self, source: str, target: str) -> str:
        """``indieweb_utils.send_webmention``; expects 201 + Location; returns the status URL."""
        lib = self.sender()
        result: dict = {}

        def work():
            try:
                result["response"] = lib.send_webmention(source, target)
            except BaseException as e:  # noqa: B902 (reported below)
                result["error"] = e

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        worker.join(SEND_TIMEOUT_S)
        expect(not worker.is_alive(),
               f"send_webmention({source}, {target}) did not return within {SEND_TIMEOUT_S:.0f} s")
        if "error" in result:
            e = result["error"]
            raise CheckFailed(f"send_webmention({source}, {target}) raised "
                              f"{type(e).__name__}: {e}{self.replay_hint(source, target)}")
        response = result["response"]
        headers = {h.name.lower(): h.value for h in response.headers}
        expect(response.status_code == 201,
               f"the endpoint answered HTTP {response.status_code} (expected 201 Created), "
               f"headers {headers}")
        location = headers.get("location", "")
        expect(location != "", f"201 without a Location header; headers {headers}")
        status_url = urllib.parse.urljoin(f"{self.linkback.base}/webmention", location)
        parts = urllib.parse.urlsplit(status_url)
        expect(parts.netloc == f"127.0.0.1:{self.linkback.port}"
               and re.fullmatch(r"/webmention/[^/]+", parts.path) is not None,
               f"Location {location!r} is not /webmention/{{id}} on the service")
        self.status_urls[source] = status_url
        return status_url

    def replay_hint(self, source: str, target: str) -> str:
        """What the endpoint answers to the same form, to tell what the sender saw."""
        try:
            status, headers, body = self.post_form(
                "/webmention", {"source": source, "target": target})
        except Exception as e:
            return f" (replayed with urllib: {type(e).__name__}: {e})"
        return (f" (the same request replayed with urllib: HTTP {status}, "
                f"Location {headers.get('location')!r}, body {body[:200]!r})")

    def webmention_status(self, status_url: str) -> dict:
        path = urllib.parse.urlsplit(status_url).path
        status, body = self.linkback.get_json(path)
        expect(status == 200, f"GET {path} -> HTTP {status}: {short(body)}")
        expect(isinstance(body, dict) and "status" in body and "reason" in body,
               f"GET {path}: expected {{\"status\", \"reason\"}}, got {short(body)}")
        expect(body["status"] in WEBMENTION_STATUSES, f"GET {path}: unknown status {short(body)}")
        return body

    def wait_status(self, status_url: str, want: str, seconds: float = POLL_TIMEOUT_S) -> dict:
        """Polls the status URL until it leaves "queued"; expects ``want``."""
        deadline = time.monotonic() + seconds
        seen = []
        while True:
            body = self.webmention_status(status_url)
            if not seen or seen[-1] != body["status"]:
                seen.append(body["status"])
            if body["status"] != "queued":
                break
            if time.monotonic() > deadline:
                raise CheckFailed(f"{status_url} still queued after {seconds:.0f} s")
            time.sleep(0.2)
        expect(body["status"] == want,
               f"{status_url}: expected {want!r}, got {short(body)} (statuses seen: {seen})")
        return body

    def post_form(self, path: str, fields: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """A form POST with urllib; HTTP errors are answers, not exceptions."""
        request = urllib.request.Request(
            f"{self.linkback.base}{path}", data=urllib.parse.urlencode(fields).encode("ascii"),
            headers={"Content-Type": "application/x-www-form-urlencoded"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=harness.CLIENT_TIMEOUT_S) as r:
                return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    # ===================================================================== checks: trackback

    def check_tb_utf8(self) -> None:
        self.expect_trackback_ok(self.article, fields={
            "url": self.tb_utf8,
            "title": "Grüße aus Zürich: ein Trackback",
            "excerpt": "Ein kurzer Auszug über den Hallo-Artikel, mit Umlauten: äöü ß — und “Anführungszeichen”.",
            "blog_name": "Blög aus Zürich",
        })

    def check_tb_utf8_listed(self) -> None:
        self.expect_listed_fields(
            self.tb_utf8, "trackback",
            title="Grüße aus Zürich: ein Trackback",
            excerpt="Ein kurzer Auszug über den Hallo-Artikel, mit Umlauten: äöü ß — und “Anführungszeichen”.",
            author="Blög aus Zürich",
            protocols=["trackback"],
        )

    def check_tb_latin1(self) -> None:
        self.form_file_trackback(self.tb_latin1, "iso-8859-1", "ISO-8859-1",
                                 "Café à Paris", "Un été déjà noté, crème brûlée et façade.",
                                 "Le blog français")
        self.expect_listed_fields(self.tb_latin1, "trackback", title="Café à Paris",
                                  excerpt="Un été déjà noté, crème brûlée et façade.",
                                  author="Le blog français")

    def check_tb_cp1252(self) -> None:
        # 0x80 (€) and 0x92 (’) are windows-1252 only: a decoder treating the body as
        # ISO-8859-1 would store C1 control characters instead.
        self.form_file_trackback(self.tb_cp1252, "cp1252", "windows-1252",
                                 "L’euro à 1 € près", "Prix “fous”… l’été dernier.", "Œuvres")
        self.expect_listed_fields(self.tb_cp1252, "trackback", title="L’euro à 1 € près",
                                  excerpt="Prix “fous”… l’été dernier.", author="Œuvres")

    def check_tb_sjis(self) -> None:
        self.form_file_trackback(self.tb_sjis, "shift_jis", "Shift_JIS",
                                 "日本語のトラックバック", "こんにちは、記事へのリンクです。",
                                 "テストブログ")
        self.expect_listed_fields(self.tb_sjis, "trackback", title="日本語のトラックバック",
                                  excerpt="こんにちは、記事へのリンクです。", author="テストブログ")

    def check_tb_long_fields_cut(self) -> None:
        title = "Titel " * 100  # 600 characters
        excerpt = "Auszug " * 150  # 1050 characters
        self.expect_trackback_ok(self.article, fields={
            "url": self.tb_long, "title": title, "excerpt": excerpt, "blog_name": "Lang"})
        mention = self.the_mention(self.tb_long)
        problems = []
        if not (0 < len(mention["title"]) <= MAX_TITLE_CHARS):
            problems.append(f"title has {len(mention['title'])} characters: {mention['title']!r}")
        if not (0 < len(mention["excerpt"]) <= MAX_EXCERPT_CHARS):
            problems.append(f"excerpt has {len(mention['excerpt'])} characters: {mention['excerpt']!r}")
        expect(not problems, "; ".join(problems))

    def check_tb_duplicate(self) -> None:
        self.expect_trackback_error(self.article, fields={"url": self.tb_utf8, "title": "again"})
        expect(len(self.find_mentions(self.tb_utf8)) == 1, "the duplicate changed the listing")

    def check_tb_missing_url(self) -> None:
        self.expect_trackback_error(self.article, fields={"title": "no url", "excerpt": "x"})

    def check_tb_invalid_url(self) -> None:
        self.expect_trackback_error(self.article, fields={"url": "not a url at all"})

    def check_tb_unknown_target(self) -> None:
        self.expect_trackback_error(FOREIGN_TARGET, fields={"url": self.tb_utf8})

    def check_tb_same_url(self) -> None:
        self.expect_trackback_error(self.article, fields={"url": self.article})

    def check_tb_unreachable(self) -> None:
        self.expect_trackback_error(self.article, fields={"url": self.tb_missing})
        expect(404 in self.origin.hits_of(self.tb_missing),
               "error 1 answered without fetching the source page")

    def check_tb_no_link(self) -> None:
        self.expect_trackback_error(self.article, fields={"url": self.tb_nolink, "title": "t"})
        expect(200 in self.origin.hits_of(self.tb_nolink),
               "error 1 answered without fetching the source page (verify = true)")
        expect(self.find_mentions(self.tb_nolink) == [], "the page without the link is listed")

    # ===================================================================== checks: webmention

    def check_wm_discovery(self) -> None:
        found = self.sender().discover_webmention_endpoint(self.article)
        want = f"{self.linkback.base}/webmention"
        expect(found.endpoint == want, f"discovered {found.endpoint!r}, expected {want!r}")

    def check_wm_send(self) -> None:
        self.send_webmention(self.wm_reply, self.article)

    def check_wm_verified(self) -> None:
        expect(self.wm_reply in self.status_urls, "no status URL: the webmention was not accepted")
        self.wait_status(self.status_urls[self.wm_reply], "verified")

    def check_wm_listed(self) -> None:
        mention = self.expect_listed_fields(self.wm_reply, "webmention",
                                            title="A reply to hello (v1)",
                                            protocols=["webmention"])
        expect("First version" in mention["excerpt"],
               f"excerpt {mention['excerpt']!r} is not from the paragraph with the link")

    def check_wm_update(self) -> None:
        first_id = self.ids.get(self.wm_reply)
        expect(first_id is not None, "the first webmention was not listed")
        self.origin.put_html(self.wm_reply, source_html(
            "A reply to hello, revised (v2)", "Second version, rewritten, of my reply to",
            self.article))
        url = self.send_webmention(self.wm_reply, self.article)
        self.wait_status(url, "verified")
        mention = self.expect_listed_fields(self.wm_reply, "webmention",
                                            title="A reply to hello, revised (v2)")
        expect(mention["id"] == first_id, f"id changed from {first_id} to {mention['id']}")
        expect("Second version" in mention["excerpt"], f"excerpt not updated: {mention['excerpt']!r}")

    def _expect_deleted(self, source: str) -> None:
        url = self.send_webmention(source, self.article)
        self.wait_status(url, "deleted")
        left = self.find_mentions(source)
        expect(left == [], f"still listed: {short(left)}")

    def check_wm_gone_410(self) -> None:
        self.origin.put(self.wm_reply, "text/html; charset=utf-8",
                        b"<!DOCTYPE html><title>Gone</title><p>This post was deleted.</p>",
                        status=410)
        self._expect_deleted(self.wm_reply)
        expect(410 in self.origin.hits_of(self.wm_reply), "the 410 page was never fetched")

    def _publish_verify(self, source: str) -> None:
        url = self.send_webmention(source, self.article)
        self.wait_status(url, "verified")
        self.the_mention(source)

    def check_wm_meta_410(self) -> None:
        self._publish_verify(self.wm_meta_gone)
        self.origin.put_html(self.wm_meta_gone, source_html(
            "Deleted", "This post was withdrawn; it used to link to", self.article,
            head='<meta http-equiv="Status" content="410 Gone">'))
        self._expect_deleted(self.wm_meta_gone)

    def check_wm_link_removed(self) -> None:
        self._publish_verify(self.wm_unlinked)
        self.origin.put_html(self.wm_unlinked, source_html(
            "A post whose link went", "This post no longer links to the article", None))
        self._expect_deleted(self.wm_unlinked)

    def check_cross_protocol(self) -> None:
        self.expect_trackback_ok(self.article, fields={
            "url": self.wm_cross, "title": "Cross post", "excerpt": "Trackback first.",
            "blog_name": "Cross blog"})
        before = self.the_mention(self.wm_cross)
        expect(before["protocols"] == ["trackback"], f"after the trackback: {short(before)}")
        url = self.send_webmention(self.wm_cross, self.article)
        self.wait_status(url, "verified")
        after = self.the_mention(self.wm_cross)  # exactly one listed mention for the source
        expect(after["id"] == before["id"], f"id changed from {before['id']} to {after['id']}")
        expect(sorted(after["protocols"]) == ["trackback", "webmention"],
               f"protocols {after['protocols']!r}, expected trackback and webmention")

    # ===================================================================== checks: 400s

    def _expect_400(self, fields: dict[str, str]) -> None:
        status, headers, body = self.post_form("/webmention", fields)
        ctype = headers.get("content-type", "")
        expect(status == 400, f"POST /webmention {fields} -> HTTP {status}, "
                              f"Location {headers.get('location')!r}, body {body[:300]!r}")
        expect(ctype.split(";")[0].strip().lower() == "text/plain",
               f"400 with Content-Type {ctype!r} (expected text/plain): {body[:300]!r}")
        expect(body.strip() != b"", "400 with an empty body (expected a plain-text reason)")

    def check_400_missing_source(self) -> None:
        self._expect_400({"target": self.article})

    def check_400_missing_target(self) -> None:
        self._expect_400({"source": self.wm_reply})

    def check_400_ftp_source(self) -> None:
        self._expect_400({"source": "ftp://127.0.0.1/reply.txt", "target": self.article})

    def check_400_same_url(self) -> None:
        self._expect_400({"source": self.article, "target": self.article})

    def check_400_unknown_target(self) -> None:
        self._expect_400({"source": self.wm_reply, "target": FOREIGN_TARGET})

    # ===================================================================== checks: durability

    def check_slow_send_then_sigkill(self) -> None:
        started = time.monotonic()
        try:
            self.slow_status_url = self.send_webmention(self.wm_slow, self.article)
        finally:
            self.slow_send_seconds = time.monotonic() - started
            self.slow_hits_at_kill = len(self.origin.hits_of(self.wm_slow))
            self.linkback.kill()  # SIGKILL right after the 201: no graceful anything

    def check_slow_send_was_async(self) -> None:
        expect(self.slow_send_seconds >= 0, "the webmention was not sent")
        expect(self.slow_send_seconds < SLOW_SOURCE_DELAY_S,
               f"the 201 came {self.slow_send_seconds:.1f} s after the request, not before the "
               f"{SLOW_SOURCE_DELAY_S:.0f} s source fetch ended: verification is not asynchronous")

    def check_restart_after_kill(self) -> None:
        self.start()

    def check_slow_verified_after_restart(self) -> None:
        expect(self.slow_status_url != "", "no status URL from the 201")
        # the status URL's port was the killed server's; ask the restarted one
        path = urllib.parse.urlsplit(self.slow_status_url).path
        try:
            self.wait_status(f"{self.linkback.base}{path}", "verified", RESTART_POLL_TIMEOUT_S)
            self.expect_listed_fields(self.wm_slow, "webmention", title="A slow blog")
        except CheckFailed as e:
            raise CheckFailed(
                f"{e}\n(fetches of the slow page: {self.slow_hits_at_kill} before the SIGKILL, "
                f"{len(self.origin.hits_of(self.wm_slow))} in all)") from None

    # ===================================================================== the plan

    def run(self, runner: harness.Runner) -> None:
        os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost,blog.test"
        expect(shutil.which("curl") is not None, "curl is not on PATH (the trackback sender)")
        self.origin.start()
        self.write_config()
        if not runner.check("linkback starts with [trackback] verify = true and /healthz answers 200",
                            self.start):
            runner.skip_rest(["every other check"], "the service did not start")
            return
        checks = [
            # trackback, sent with curl
            ("trackback (curl, UTF-8 form) answers <error>0</error>", self.check_tb_utf8),
            ("listing shows the UTF-8 trackback: title/excerpt from the fields, author = blog_name",
             self.check_tb_utf8_listed),
            ("trackback with charset=ISO-8859-1 (--data-binary) is decoded: \"Café à Paris\"",
             self.check_tb_latin1),
            ("trackback with charset=windows-1252 is decoded (€, curly quotes)", self.check_tb_cp1252),
            ("trackback with charset=Shift_JIS is decoded", self.check_tb_sjis),
            ("trackback title/excerpt are cut to 200/300 characters", self.check_tb_long_fields_cut),
            ("trackback error 1: the same url and target again (duplicate)", self.check_tb_duplicate),
            ("trackback error 1: missing url", self.check_tb_missing_url),
            ("trackback error 1: invalid url", self.check_tb_invalid_url),
            ("trackback error 1: target is not one of our sites", self.check_tb_unknown_target),
            ("trackback error 1: url equals the target", self.check_tb_same_url),
            ("trackback error 1: source answers 404", self.check_tb_unreachable),
            ("trackback error 1: source does not link to the target", self.check_tb_no_link),
            # webmention, sent with indieweb-utils
            ("indieweb-utils discovers the endpoint advertised by the article",
             self.check_wm_discovery),
            ("indieweb-utils send_webmention gets 201 Created with Location /webmention/{id}",
             self.check_wm_send),
            ("webmention status becomes verified", self.check_wm_verified),
            ("listing shows the webmention (protocol webmention, title from the page)",
             self.check_wm_listed),
            ("webmention again after the page changed: same id, new title and excerpt",
             self.check_wm_update),
            ("webmention again after the page answers 410: status deleted, no longer listed",
             self.check_wm_gone_410),
            ("webmention again after <meta http-equiv=Status content=\"410 Gone\">: deleted",
             self.check_wm_meta_410),
            ("webmention again after the link was removed: deleted", self.check_wm_link_removed),
            ("trackback then webmention for one source: one mention, protocols has both",
             self.check_cross_protocol),
            # synchronous 400s, urllib
            ("webmention 400: missing source", self.check_400_missing_source),
            ("webmention 400: missing target", self.check_400_missing_target),
            ("webmention 400: ftp: source", self.check_400_ftp_source),
            ("webmention 400: source equals target", self.check_400_same_url),
            ("webmention 400: target is not one of our sites", self.check_400_unknown_target),
        ]
        for name, fn in checks:
            runner.check(name, fn)
        runner.check(f"webmention of a slow source ({SLOW_SOURCE_DELAY_S:.0f} s): 201, then SIGKILL",
                     self.check_slow_send_then_sigkill)
        runner.check("the 201 came before the slow source was fetched (asynchronous)",
                     self.check_slow_send_was_async)
        if runner.check("restart on the same data dir after SIGKILL", self.check_restart_after_kill):
            runner.check("the webmention accepted before SIGKILL is verified after the restart",
                         self.check_slow_verified_after_restart)
        else:
            runner.skip_rest(["the webmention accepted before SIGKILL is verified after the restart"],
                             "the service did not restart")


def main(argv: list[str]) -> int:
    return harness.main(argv, SendersScenario)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
