"""Shared pieces of the end-to-end checks that drive a built Linkback binary.

Standard library only. Used by pingback_client.py and senders.py:

* ``Origin``: a loopback ``http.server`` that plays the blogs linking to us, serving
  pages keyed by (Host without port, path), each with its status, headers and an
  optional delay, and recording every hit;
* ``write_config``: a temporary TOML configuration (sites, ``[fetch.resolve]``…);
* ``Linkback``: the binary run as ``serve`` on that config and a data dir, with
  start (waits for ``/healthz``), SIGTERM, SIGKILL, raw HTTP and the listing;
* ``Runner`` and ``main``: one check per behaviour, printed ``ok - name`` or
  ``FAIL - name: details``, and as the very last line ``N passed, M failed``.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HEALTH_TIMEOUT_S = 15.0
SHUTDOWN_TIMEOUT_S = 15.0
CLIENT_TIMEOUT_S = 30.0

RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


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


def short(value, limit: int = 600) -> str:
    """JSON (or repr) of a value, cut to ``limit`` characters, for failure messages."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def toml_str(value: str) -> str:
    """A TOML basic string (JSON's escapes are valid TOML escapes)."""
    return json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------- origin


@dataclass
class Page:
    status: int
    content_type: str
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    delay: float = 0.0  # seconds to wait before answering (a slow source)


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that went away mid-answer (a killed Linkback, a timed-out fetch) is
        # part of several checks; keep the output to check lines.
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class Origin:
    """A loopback HTTP origin serving pages keyed by (Host without port, path)."""

    def __init__(self) -> None:
        self.pages: dict[tuple[str, str], Page] = {}
        self.hits: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _lookup(self) -> Page | None:
                host = (self.headers.get("Host") or "").strip().lower()
                if host.startswith("["):
                    host = host.split("]")[0] + "]"
                else:
                    host = host.rsplit(":", 1)[0] if ":" in host else host
                with origin._lock:
                    page = origin.pages.get((host, self.path))
                    status = page.status if page else 404
                    origin.hits.append((host, self.path, status))
                return page

            def _answer(self, with_body: bool) -> None:
                page = self._lookup()
                if page is None:
                    page = Page(404, "text/plain; charset=utf-8", b"not found\n")
                if page.delay > 0:
                    time.sleep(page.delay)
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                for name, value in page.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(page.body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(page.body)

            def do_GET(self):  # noqa: N802 (http.server's naming)
                self._answer(True)

            def do_HEAD(self):  # noqa: N802
                self._answer(False)

            def log_message(self, format, *args):  # keep the output to check lines
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @staticmethod
    def _key(url: str) -> tuple[str, str]:
        parts = urllib.parse.urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        return (parts.hostname or "", path)

    def put(self, url: str, content_type: str, body: bytes, status: int = 200,
            headers: list[tuple[str, str]] | None = None, delay: float = 0.0) -> None:
        """Serves ``body`` at ``url`` (its host and path; the port is not part of the key)."""
        with self._lock:
            self.pages[self._key(url)] = Page(status, content_type, body, headers or [], delay)

    def put_html(self, url: str, html: str, status: int = 200,
                 headers: list[tuple[str, str]] | None = None, delay: float = 0.0) -> None:
        self.put(url, "text/html; charset=utf-8", html.encode("utf-8"), status, headers, delay)

    def hits_of(self, url: str) -> list[int]:
        """Statuses answered so far for ``url``'s host and path, oldest first."""
        key = self._key(url)
        with self._lock:
            return [status for host, path, status in self.hits if (host, path) == key]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
        self.server.server_close()


# --------------------------------------------------------------------------- config


def write_config(path: Path, data_dir: Path, *, sites: list[tuple],
                 resolve: dict[str, str] | None = None, allow_private: bool = True,
                 timeout_ms: int = 5000, extra: str = "", public_url: str | None = None) -> None:
    """Writes a Linkback TOML config: [fetch] (+ [fetch.resolve]), ``extra``, [[sites]].

    Each site is ``(name, targets)`` or ``(name, targets, {key: string value})`` for its other
    keys (``moderation``, ``token``)."""
    lines = [
        'listen = "127.0.0.1:0"',
        *([f"public_url = {toml_str(public_url)}"] if public_url else []),
        f"data_dir = {toml_str(data_dir.as_posix())}",
        "",
        "[fetch]",
        f"allow_private = {'true' if allow_private else 'false'}"
        + ("            # the origin is on loopback" if allow_private else ""),
        f"timeout_ms = {timeout_ms}",
        "",
    ]
    if resolve:
        lines.append("[fetch.resolve]")
        lines += [f"{toml_str(host)} = {toml_str(addr)}" for host, addr in resolve.items()]
        lines.append("")
    if extra:
        lines += [extra.strip("\n"), ""]
    for name, targets, *more in sites:
        keys = more[0] if more else {}
        lines += [
            "[[sites]]",
            f"name = {toml_str(name)}",
            "targets = [" + ", ".join(toml_str(t) for t in targets) + "]",
            *[f"{key} = {toml_str(value)}" for key, value in keys.items()],
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")


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
        """Starts `serve` on a fresh port and waits until /healthz answers 200."""
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
        """SIGKILL if still running (no chance to flush anything), then close the log."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

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

    def get_json(self, path: str) -> tuple[int, object]:
        """GET ``path``; (status, parsed JSON). A body that is not JSON fails the check."""
        status, _, body = self.http("GET", path)
        try:
            return status, json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CheckFailed(f"GET {path} -> HTTP {status}, not JSON ({e}): {body[:300]!r}") from None

    def listing(self, target: str) -> dict:
        query = urllib.parse.urlencode({"target": target})
        status, headers, body = self.http("GET", f"/api/mentions?{query}")
        expect(status == 200, f"GET /api/mentions?{query} -> HTTP {status}: {body[:300]!r}")
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CheckFailed(f"listing is not JSON ({e}): {body[:300]!r}") from None

    def mentions(self, target: str) -> list[dict]:
        """The listing's mentions for ``target`` (all pages of it)."""
        body = self.listing(target)
        mentions = body.get("mentions") if isinstance(body, dict) else None
        expect(isinstance(mentions, list), f"listing has no mentions array: {short(body)}")
        expect(body.get("next") is None, f"listing has more than one page: next = {body.get('next')!r}")
        return mentions


# --------------------------------------------------------------------------- scenario base


class Scenario:
    """Owns a temp dir, an origin and a Linkback on a config and data dir there."""

    def __init__(self, binary: str, prefix: str = "linkback-e2e-") -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix=prefix))
        self.origin = Origin()
        self.data_dir = self.tmp / "data"
        self.config = self.tmp / "linkback.toml"
        self.linkback = Linkback(binary, self.config, self.data_dir, self.tmp / "linkback.log")

    def run(self, runner: "Runner") -> None:
        raise NotImplementedError

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
        print("# ----- end of log -----", flush=True)


# --------------------------------------------------------------------------- runner


class Runner:
    """Runs checks one by one; a check fails by raising, and never stops the run."""

    def __init__(self, explain: dict[type, Callable[[BaseException], str]] | None = None) -> None:
        self.passed = 0
        self.failed = 0
        # exception type -> how to word it (e.g. xmlrpc.client.Fault)
        self.explain = explain or {}

    def check(self, name: str, fn) -> bool:
        try:
            fn()
        except CheckFailed as e:
            self._fail(name, str(e))
            return False
        except Exception as e:  # anything else is a failure of this check, not of the run
            for kind, word in self.explain.items():
                if isinstance(e, kind):
                    self._fail(name, word(e))
                    return False
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


def main(argv: list[str], make_scenario: Callable[[str], Scenario],
         explain: dict[type, Callable[[BaseException], str]] | None = None) -> int:
    """``script path/to/linkback``: builds the scenario, runs it, prints the summary line."""
    if len(argv) != 2:
        print(f"usage: {argv[0]} path/to/linkback-binary", file=sys.stderr)
        print("0 passed, 1 failed")
        return 2
    binary = os.path.abspath(argv[1])
    runner = Runner(explain)
    scenario = None
    try:
        scenario = make_scenario(binary)
        scenario.run(runner)
    except Exception as e:  # setup failure (missing fixtures, ports, a missing package...)
        runner._fail("setup", "".join(traceback.format_exception_only(type(e), e)).strip())
    finally:
        if scenario is not None:
            if runner.failed:
                scenario.print_log()
            scenario.cleanup()
    print(f"{runner.passed} passed, {runner.failed} failed", flush=True)
    return 0 if runner.failed == 0 and runner.passed > 0 else 1
