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

import datetime
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import xmlrpc.client
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "seed"

HEALTH_TIMEOUT_S = 15.0
SHUTDOWN_TIMEOUT_S = 15.0
CLIENT_TIMEOUT_S = 30.0
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

RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")

MENTION_KEYS = {
    "id", "protocol", "source", "target", "title", "excerpt", "author",
    "status", "received_at", "verified_at",
}


class CheckFailed(Exception):
    """A check's expectation did not hold; the message says what was seen."""


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_rfc3339(text) -> datetime.datetime:
    if not isinstance(text, str) or not RFC3339.match(text):
        raise CheckFailed(f"not an RFC 3339 timestamp: {text!r}")
    normalized = text.upper().replace("Z", "+00:00")
    # fromisoformat (3.11) accepts any number of fraction digits; keep it portable
    # by trimming to microseconds.
    normalized = re.sub(r"\.(\d{6})\d+", r".\1", normalized)
    try:
        return datetime.datetime.fromisoformat(normalized)
    except ValueError as e:
        raise CheckFailed(f"not an RFC 3339 timestamp: {text!r} ({e})") from None


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


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


# --------------------------------------------------------------------------- origin


class Origin:
    """A loopback HTTP origin serving pages keyed by (Host without port, path)."""

    def __init__(self) -> None:
        self.pages: dict[tuple[str, str], tuple[int, str, list[tuple[str, str]], bytes]] = {}
        self.hits: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _lookup(self):
                host = (self.headers.get("Host") or "").strip().lower()
                if host.startswith("["):
                    host = host.split("]")[0] + "]"
                else:
                    host = host.rsplit(":", 1)[0] if ":" in host else host
                page = origin.pages.get((host, self.path))
                status = page[0] if page else 404
                with origin._lock:
                    origin.hits.append((host, self.path, status))
                return page

            def _answer(self, with_body: bool) -> None:
                page = self._lookup()
                if page is None:
                    status, ctype, headers, body = 404, "text/plain; charset=utf-8", [], b"not found\n"
                else:
                    status, ctype, headers, body = page
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_GET(self):  # noqa: N802 (http.server's naming)
                self._answer(True)

            def do_HEAD(self):  # noqa: N802
                self._answer(False)

            def log_message(self, format, *args):  # keep the output to check lines
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def put(self, url: str, content_type: str, body: bytes, status: int = 200,
            headers: list[tuple[str, str]] | None = None) -> None:
        parts = urllib.parse.urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        self.pages[(parts.hostname or "", path)] = (status, content_type, headers or [], body)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------- linkback


class Linkback:
    """The binary under test, run as `serve` on a config and data dir."""

    def __init__(self, binary: str, config: Path, data_dir: Path, log_path: Path) -> None:
        self.binary = binary
        self.config = config
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        self._log = open(self.log_path, "ab")
        self._log.write(f"\n===== start on port {self.port} =====\n".encode())
        self._log.flush()
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--config", str(self.config),
             "--data-dir", str(self.data_dir), "--listen", f"127.0.0.1:{self.port}"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"},
        )
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        last = "no answer"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise CheckFailed(f"linkback exited with code {code} before /healthz answered")
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
                    last = f"HTTP {r.status}"
            except urllib.error.HTTPError as e:
                last = f"HTTP {e.code}"
            except OSError as e:
                last = str(e)
            time.sleep(0.1)
        raise CheckFailed(f"/healthz did not answer 200 within {HEALTH_TIMEOUT_S:.0f} s (last: {last})")

    def terminate(self) -> tuple[int | None, float]:
        """SIGTERM, then wait; returns (exit code or None on timeout, seconds waited)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=SHUTDOWN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def proxy(self) -> xmlrpc.client.ServerProxy:
        return xmlrpc.client.ServerProxy(f"{self.base}/xmlrpc", transport=TimeoutTransport())

    def http(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """A raw request; tolerates the server closing early after answering (e.g. 413)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=CLIENT_TIMEOUT_S)
        try:
            try:
                conn.request(method, path, body=body, headers=headers or {})
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer and close before reading the whole body
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def listing(self, target: str) -> dict:
        query = urllib.parse.urlencode({"target": target})
        status, headers, body = self.http("GET", f"/api/mentions?{query}")
        expect(status == 200, f"GET /api/mentions?{query} -> HTTP {status}: {body[:300]!r}")
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CheckFailed(f"listing is not JSON ({e}): {body[:300]!r}") from None


# --------------------------------------------------------------------------- the scenario


class Scenario:
    def __init__(self, binary: str) -> None:
        self.expected = json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))
        self.target: str = self.expected["target"]
        self.mentions: list[dict] = self.expected["mentions"]
        self.fr_source: str = self.mentions[0]["source"]
        self.it_source: str = self.mentions[1]["source"]
        self.tmp = Path(tempfile.mkdtemp(prefix="linkback-e2e-"))
        self.origin = Origin()
        for url, page in self.expected["pages"].items():
            body = (FIXTURES / page["file"]).read_bytes()
            headers = list(page.get("headers", {}).items())
            self.origin.put(url, page["content_type"], body, headers=headers)
        self.origin.put(NOLINK_SOURCE, "text/html; charset=utf-8", NOLINK_HTML)
        self.data_dir = self.tmp / "data"
        self.config = self.tmp / "linkback.toml"
        self.linkback = Linkback(binary, self.config, self.data_dir, self.tmp / "linkback.log")
        self.seed_answers: list[str] = []
        self.first_listing: list[dict] = []

    def write_config(self) -> None:
        o = self.origin.port
        self.config.write_text(
            f'''listen = "127.0.0.1:0"
data_dir = "{self.data_dir.as_posix()}"

[fetch]
allow_private = true            # the origin is on loopback
timeout_ms = 5000

[fetch.resolve]
"{FR_HOST}" = "127.0.0.1:{o}"
"{IT_HOST}" = "127.0.0.1:{o}"

[[sites]]
name = "checkpointasia"
targets = ["https://checkpointasia.net/"]
''',
            encoding="utf-8",
        )

    def cleanup(self) -> None:
        self.linkback.kill()
        try:
            self.origin.stop()
        except Exception:  # the origin may never have started
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def print_log(self) -> None:
        try:
            text = self.linkback.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        lines = ANSI_ESCAPE.sub("", text).splitlines()[-200:]
        print("# ----- linkback log (last 200 lines) -----")
        for line in lines:
            print(f"# {line}")
        print("# ----- end of log -----")

    # -- helpers over the service

    def ping(self, source: str, target: str):
        with self.linkback.proxy() as proxy:
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
        with self.linkback.proxy() as proxy:
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
            with self.linkback.proxy() as proxy:
                return proxy.no.such.method()
        expect_fault(-32601, call)

    def check_wrong_arity(self) -> None:
        def call():
            with self.linkback.proxy() as proxy:
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
        with self.linkback.proxy() as proxy:
            methods = proxy.system.listMethods()
        expect(isinstance(methods, list) and "pingback.ping" in methods,
               f"pingback.ping not listed: {methods!r}")

    def check_multicall(self) -> None:
        with self.linkback.proxy() as proxy:
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


# --------------------------------------------------------------------------- runner


class Runner:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, fn) -> bool:
        try:
            fn()
        except CheckFailed as e:
            self._fail(name, str(e))
            return False
        except xmlrpc.client.Fault as fault:
            self._fail(name, f"unexpected Fault {fault.faultCode}: {fault.faultString!r}")
            return False
        except xmlrpc.client.ProtocolError as e:
            self._fail(name, f"HTTP {e.errcode} {e.errmsg} from {e.url}")
            return False
        except Exception as e:  # anything else is a failure of this check, not of the run
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            self._fail(name, detail)
            return False
        self.passed += 1
        print(f"ok - {name}", flush=True)
        return True

    def skip_rest(self, names: list[str], why: str) -> None:
        for name in names:
            self._fail(name, f"not run: {why}")

    def _fail(self, name: str, detail: str) -> None:
        self.failed += 1
        detail = detail.replace("\n", "\n#   ")
        print(f"FAIL - {name}: {detail}", flush=True)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} path/to/linkback-binary", file=sys.stderr)
        print("0 passed, 1 failed")
        return 2
    binary = os.path.abspath(argv[1])
    runner = Runner()
    scenario = None
    try:
        scenario = Scenario(binary)
        s = scenario
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
    except Exception as e:  # setup failure (missing fixtures, ports...)
        runner._fail("setup", "".join(traceback.format_exception_only(type(e), e)).strip())
    finally:
        if scenario is not None:
            if runner.failed:
                scenario.print_log()
            scenario.cleanup()
    print(f"{runner.passed} passed, {runner.failed} failed", flush=True)
    return 0 if runner.failed == 0 and runner.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
