#!/usr/bin/env python3
"""End-to-end check: drive a built Linkback binary with a real pingback client.

Usage:  python3 tests/e2e/pingback_client.py path/to/linkback-binary

The client is Python's standard ``xmlrpc.client``, as used by many blog engines'
pingback senders. The script starts

* an origin (``http.server``) on 127.0.0.1 that plays the blogs linking to us:
  the seed scenario pages from tests/fixtures/seed/ plus a page without a link,
* the Linkback binary (``serve``) on a temporary config and data directory, with
  ``[fetch.resolve]`` pointing the blogs' host names at the origin,

then runs one check per behaviour, printing ``ok - name`` or
``FAIL - name: details`` per check and, as the very last line,
``N passed, M failed``. Exit status 0 only if every check passed.

Standard library only.
"""

from __future__ import annotations

import json
import sys
import time
import xmlrpc.client
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402 (the shared origin, config, service and runner)
from harness import CheckFailed, expect, parse_rfc3339  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "seed"

CLIENT_TIMEOUT_S = harness.CLIENT_TIMEOUT_S
SHUTDOWN_TIMEOUT_S = harness.SHUTDOWN_TIMEOUT_S
MAX_XMLRPC_BODY = 64 * 1024

FR_HOST = "fr.example.org"
IT_HOST = "it.example.org"
MISSING_SOURCE = f"http://{FR_HOST}/does-not-exist/"
NOLINK_SOURCE = f"http://{FR_HOST}/nolink/"
FOREIGN_TARGET = "https://other.example.com/post/"

NOLINK_HTML = """<!DOCTYPE html>
<html lang="fr">
<head><meta charset="utf-8"><title>Revue de presse sans lien</title></head>
<body>
<article>
<h1>Revue de presse sans lien</h1>
<p>Cet article parle de la Syrie et de la Libye, mais ne renvoie pas vers l'article cible.</p>
<p>Voir <a href="https://checkpointasia.net/">Checkpoint Asia</a>,
<a href="https://checkpointasia.net/another-article/">un autre article</a>
et <a href="https://www.example.com/">un autre site</a>.</p>
</article>
</body>
</html>
""".encode("utf-8")

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<methodCall>
 <methodName>pingback.ping</methodName>
 <params>
  <param><value><string>&lol9;</string></value></param>
  <param><value><string>&lol9;</string></value></param>
 </params>
</methodCall>
"""

MENTION_KEYS = {
    "id", "protocol", "source", "target", "title", "excerpt", "author",
    "status", "received_at", "verified_at",
}

# --------------------------------------------------------------------------- helpers


def expect_fault(code: int, call) -> None:
    """Runs ``call`` (which makes one XML-RPC call) and expects Fault ``code``."""
    try:
        result = call()
    except xmlrpc.client.Fault as fault:
        if fault.faultCode != code:
            raise CheckFailed(
                f"expected fault {code}, got fault {fault.faultCode}: {fault.faultString!r}"
            ) from None
        if not isinstance(fault.faultString, str) or not fault.faultString:
            raise CheckFailed(f"fault {code} without a faultString: {fault.faultString!r}")
        return
    raise CheckFailed(f"expected fault {code}, got success {result!r}")


class TimeoutTransport(xmlrpc.client.Transport):
    """xmlrpc.client's transport with a socket timeout, so a hung server fails a check."""

    def make_connection(self, host):
        conn = super().make_connection(host)
        conn.timeout = CLIENT_TIMEOUT_S
        return conn


# --------------------------------------------------------------------------- the scenario


class PingbackScenario(harness.Scenario):
    def __init__(self, binary: str) -> None:
        self.expected = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
        self.target: str = self.expected["target"]
        self.mentions: list[dict] = self.expected["mentions"]
        self.fr_source: str = self.mentions[0]["source"]
        self.it_source: str = self.mentions[1]["source"]
        super().__init__(binary, prefix="linkback-e2e-")
        for url, page in self.expected["pages"].items():
            body = (FIXTURES / page["file"]).read_bytes()
            headers = list(page.get("headers", {}).items())
            self.origin.put(url, page["content_type"], body, headers=headers)
        self.origin.put(NOLINK_SOURCE, "text/html; charset=utf-8", NOLINK_HTML)
        self.seed_answers: list[str] = []
        self.first_listing: list[dict] = []

    def write_config(self) -> None:
        o = self.origin.port
        harness.write_config(
            self.config, self.data_dir,
            resolve={FR_HOST: f"127.0.0.1:{o}", IT_HOST: f"127.0.0.1:{o}"},
            sites=[("checkpointasia", ["https://checkpointasia.net/"])],
        )

    def proxy(self) -> xmlrpc.client.ServerProxy:
        return xmlrpc.client.ServerProxy(f"{self.linkback.base}/xmlrpc", transport=TimeoutTransport())

    # -- helpers over the service

    def ping(self, source: str, target: str):
        with self.proxy() as proxy:
            return proxy.pingback.ping(source, target)

    def wait_for_listing(self, count: int, seconds: float) -> list[dict]:
        deadline = time.monotonic() + seconds
        while True:
            mentions = self.linkback.listing(self.target).get("mentions")
            if not isinstance(mentions, list) or len(mentions) >= count or time.monotonic() > deadline:
                return mentions
            time.sleep(0.2)

    # -- checks

    def check_seed_ping_fr(self) -> None:
        self._seed_ping(self.fr_source)

    def check_seed_ping_it(self) -> None:
        self._seed_ping(self.it_source)

    def _seed_ping(self, source: str) -> None:
        try:
            answer = self.ping(source, self.target)
        except xmlrpc.client.Fault as fault:
            raise CheckFailed(f"Fault {fault.faultCode}: {fault.faultString!r}") from None
        expect(isinstance(answer, str) and answer != "",
               f"expected a non-empty success string, got {answer!r}")
        self.seed_answers.append(answer)

    def check_listing(self) -> None:
        # A ping answered "registered" is stored before the answer; one answered
        # "verification continues" (past the answer deadline) may take a little longer.
        continuing = any("registered" not in a for a in self.seed_answers)
        body = self.linkback.listing(self.target)
        mentions = body.get("mentions")
        if continuing and isinstance(mentions, list) and len(mentions) < 2:
            mentions = self.wait_for_listing(2, 10.0)
        expect(isinstance(body, dict) and set(body) >= {"target", "mentions", "next"},
               f"listing lacks target/mentions/next: {json.dumps(body)[:400]}")
        expect(body["target"] == self.target,
               f"listing target {body['target']!r} != {self.target!r}")
        expect(body["next"] is None, f"one page expected, next = {body['next']!r}")
        if isinstance(mentions, list):
            self.first_listing = mentions  # the durability check compares against this
        self._expect_seed_sources(mentions)
        problems = []
        for got, want in zip(mentions, self.mentions):
            tag = want["source"]
            missing = MENTION_KEYS - set(got)
            if missing:
                problems.append(f"{tag}: missing keys {sorted(missing)}")
                continue
            for key in ("title", "excerpt"):
                if got[key] != want[key]:
                    problems.append(f"{tag}: {key} {got[key]!r} != expected {want[key]!r}")
            if got["protocol"] != "pingback":
                problems.append(f"{tag}: protocol {got['protocol']!r}")
            if got["status"] != "approved":
                problems.append(f"{tag}: status {got['status']!r}")
            if got["target"] != self.target:
                problems.append(f"{tag}: target {got['target']!r}")
            if not isinstance(got["id"], int):
                problems.append(f"{tag}: id {got['id']!r} is not an integer")
            for key in ("received_at", "verified_at"):
                try:
                    parse_rfc3339(got[key])
                except CheckFailed as e:
                    problems.append(f"{tag}: {key}: {e}")
        if not problems:
            first, second = (parse_rfc3339(m["received_at"]) for m in mentions)
            if first > second:
                problems.append(f"received_at not oldest first: {mentions[0]['received_at']} > "
                                f"{mentions[1]['received_at']}")
        expect(not problems, "; ".join(problems))

    def _expect_seed_sources(self, mentions) -> None:
        expect(isinstance(mentions, list) and len(mentions) == 2,
               f"expected 2 mentions, got {json.dumps(mentions, ensure_ascii=False)[:600]}")
        sources = [m.get("source") if isinstance(m, dict) else m for m in mentions]
        expect(sources == [self.fr_source, self.it_source],
               f"sources not oldest first: {sources}")

    def check_get_pingbacks(self) -> None:
        with self.proxy() as proxy:
            urls = proxy.pingback.extensions.getPingbacks(self.target)
        expect(isinstance(urls, list), f"expected an array, got {urls!r}")
        expect(sorted(urls) == sorted([self.fr_source, self.it_source]),
               f"expected both seed sources, got {urls!r}")

    def check_fault_48_duplicate(self) -> None:
        expect_fault(48, lambda: self.ping(self.fr_source, self.target))

    def check_fault_16_missing_source(self) -> None:
        expect_fault(16, lambda: self.ping(MISSING_SOURCE, self.target))

    def check_fault_17_no_link(self) -> None:
        expect_fault(17, lambda: self.ping(NOLINK_SOURCE, self.target))
        expect((FR_HOST, "/nolink/", 200) in self.origin.hits,
               "fault 17 answered without fetching the source page")

    def check_fault_33_foreign_target(self) -> None:
        expect_fault(33, lambda: self.ping(self.fr_source, FOREIGN_TARGET))

    def check_fault_0_ftp_source(self) -> None:
        expect_fault(0, lambda: self.ping(f"ftp://{FR_HOST}/x", self.target))

    def check_fault_0_same_url(self) -> None:
        expect_fault(0, lambda: self.ping(self.target, self.target))

    def check_unknown_method(self) -> None:
        def call():
            with self.proxy() as proxy:
                return proxy.no.such.method()
        expect_fault(-32601, call)

    def check_wrong_arity(self) -> None:
        def call():
            with self.proxy() as proxy:
                return proxy.pingback.ping(self.fr_source)
        expect_fault(-32602, call)

    def _raw_xmlrpc_fault(self, body: bytes, code: int) -> None:
        started = time.monotonic()
        status, headers, reply = self.linkback.http(
            "POST", "/xmlrpc", body=body, headers={"Content-Type": "text/xml"})
        elapsed = time.monotonic() - started
        expect(status == 200, f"HTTP {status} (expected 200 with a fault): {reply[:300]!r}")
        expect(headers.get("content-type", "").startswith("text/xml"),
               f"Content-Type {headers.get('content-type')!r}")
        expect(elapsed < 5, f"answer took {elapsed:.1f} s")
        try:
            result = xmlrpc.client.loads(reply)
        except xmlrpc.client.Fault as fault:
            expect(fault.faultCode == code,
                   f"expected fault {code}, got fault {fault.faultCode}: {fault.faultString!r}")
            return
        except Exception as e:  # ExpatError and friends: the reply is not XML-RPC
            raise CheckFailed(f"reply is not an XML-RPC response ({e}): {reply[:300]!r}") from None
        raise CheckFailed(f"expected fault {code}, got {result!r}")

    def check_parse_error_entity_bomb(self) -> None:
        self._raw_xmlrpc_fault(BILLION_LAUGHS, -32700)

    def check_parse_error_not_xml(self) -> None:
        self._raw_xmlrpc_fault(b"not xml at all", -32700)

    def check_list_methods(self) -> None:
        with self.proxy() as proxy:
            methods = proxy.system.listMethods()
        expect(isinstance(methods, list) and "pingback.ping" in methods,
               f"pingback.ping not listed: {methods!r}")

    def check_multicall(self) -> None:
        with self.proxy() as proxy:
            multi = xmlrpc.client.MultiCall(proxy)
            multi.system.listMethods()
            multi.no.such.method()
            results = iter(multi())
            first = next(results)
            expect(isinstance(first, list) and "pingback.ping" in first,
                   f"first result is not the method list: {first!r}")
            try:
                second = next(results)
            except xmlrpc.client.Fault as fault:
                expect(fault.faultCode == -32601,
                       f"second result: fault {fault.faultCode} {fault.faultString!r}, expected -32601")
            else:
                raise CheckFailed(f"second result: expected fault -32601, got {second!r}")

    def check_get_is_405(self) -> None:
        status, _, body = self.linkback.http("GET", "/xmlrpc")
        expect(status == 405, f"GET /xmlrpc -> HTTP {status}: {body[:200]!r}")

    def check_oversized_body_is_413(self) -> None:
        filler = "x" * (MAX_XMLRPC_BODY + 1024)
        body = (
            "<?xml version=\"1.0\"?><methodCall><methodName>pingback.ping</methodName><params>"
            f"<param><value><string>http://{FR_HOST}/{filler}</string></value></param>"
            f"<param><value><string>{self.target}</string></value></param>"
            "</params></methodCall>"
        ).encode()
        expect(len(body) > MAX_XMLRPC_BODY, "test body is not over the limit")
        status, _, reply = self.linkback.http(
            "POST", "/xmlrpc", body=body, headers={"Content-Type": "text/xml"})
        expect(status == 413, f"POST /xmlrpc with {len(body)} bytes -> HTTP {status}: {reply[:200]!r}")

    def _sigterm_exits_zero(self) -> None:
        code, waited = self.linkback.terminate()
        if code is None:
            raise CheckFailed(f"still running {SHUTDOWN_TIMEOUT_S:.0f} s after SIGTERM")
        expect(code == 0, f"exit code {code} after SIGTERM ({waited:.1f} s)")
        self.linkback.kill()  # closes the log handle

    def check_sigterm(self) -> None:
        self._sigterm_exits_zero()

    def check_restart(self) -> None:
        self.linkback.start()

    def check_durable_listing(self) -> None:
        body = self.linkback.listing(self.target)
        mentions = body.get("mentions")
        self._expect_seed_sources(mentions)
        expect(mentions == self.first_listing,
               "listing after restart differs from before:\n  before: "
               + json.dumps(self.first_listing, ensure_ascii=False)
               + "\n  after:  " + json.dumps(mentions, ensure_ascii=False))

    def check_fault_48_after_restart(self) -> None:
        expect_fault(48, lambda: self.ping(self.it_source, self.target))

    def check_second_sigterm(self) -> None:
        self._sigterm_exits_zero()

    # -- the plan

    def run(self, runner: harness.Runner) -> None:
        s = self
        s.origin.start()
        s.write_config()
        if not runner.check("linkback starts and /healthz answers 200", s.linkback.start):
            runner.skip_rest(["every other check"], "the service did not start")
        else:
            checks = [
                ("pingback.ping from the French repost succeeds", s.check_seed_ping_fr),
                ("pingback.ping from the Italian repost succeeds", s.check_seed_ping_it),
                ("listing has both mentions, oldest first, with expected title and excerpt",
                 s.check_listing),
                ("pingback.extensions.getPingbacks returns both sources", s.check_get_pingbacks),
                ("fault 48: the same ping again", s.check_fault_48_duplicate),
                ("fault 16: source answers 404", s.check_fault_16_missing_source),
                ("fault 17: source does not link to the target", s.check_fault_17_no_link),
                ("fault 33: target is not one of our sites", s.check_fault_33_foreign_target),
                ("fault 0: ftp source", s.check_fault_0_ftp_source),
                ("fault 0: source equals target", s.check_fault_0_same_url),
                ("fault -32601: unknown method", s.check_unknown_method),
                ("fault -32602: pingback.ping with one argument", s.check_wrong_arity),
                ("fault -32700: DOCTYPE with entity declarations (billion laughs)",
                 s.check_parse_error_entity_bomb),
                ("fault -32700: body is not XML", s.check_parse_error_not_xml),
                ("system.listMethods lists pingback.ping", s.check_list_methods),
                ("system.multicall: listMethods ok, unknown method faults -32601", s.check_multicall),
                ("GET /xmlrpc answers 405", s.check_get_is_405),
                ("POST /xmlrpc over 64 KiB answers 413", s.check_oversized_body_is_413),
                ("SIGTERM: exits with code 0 within 15 s", s.check_sigterm),
            ]
            for name, fn in checks:
                runner.check(name, fn)
            if runner.check("restart on the same data dir", s.check_restart):
                runner.check("listing after restart is unchanged (durability)", s.check_durable_listing)
                runner.check("fault 48 after restart: duplicates still known", s.check_fault_48_after_restart)
                runner.check("second SIGTERM: exits with code 0 within 15 s", s.check_second_sigterm)
            else:
                runner.skip_rest(["listing after restart is unchanged (durability)",
                                  "fault 48 after restart: duplicates still known",
                                  "second SIGTERM: exits with code 0 within 15 s"],
                                 "the service did not restart")


def main(argv: list[str]) -> int:
    return harness.main(argv, PingbackScenario, explain={
        xmlrpc.client.Fault: lambda f: f"unexpected Fault {f.faultCode}: {f.faultString!r}",
        xmlrpc.client.ProtocolError: lambda e: f"HTTP {e.errcode} {e.errmsg} from {e.url}",
    })


if __name__ == "__main__":
    sys.exit(main(sys.argv))
