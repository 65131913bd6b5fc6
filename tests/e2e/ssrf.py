#!/usr/bin/env python3
"""End-to-end check: the address guard, with listeners proving no connection is made.

Usage:  python3 tests/e2e/ssrf.py path/to/linkback-binary      (as root: it uses ``ip netns``)

Linkback runs in the host's network namespace with ``fetch.allow_private = false`` and
``fetch.allowed_ports = [80]``. The script builds, and removes again in a ``finally`` (also on
Ctrl-C and SIGTERM):

* an *origin* namespace, joined to the host by a veth pair, whose side holds PUBLIC_IP, an
  address the guard treats as public. An ``http.server`` there (``harness.Origin``) on port 80
  plays a public blog: a page linking to our article (the control case, which must succeed,
  so the refusals below are meaningful), and redirects (301/302/303/307/308) to every private
  address form and to a disallowed port;
* a *canary* namespace, joined by a second veth pair, whose side holds private addresses
  (RFC 1918, 169.254.169.254, CGNAT, fc00::1) routed from the host by /32 and /128 routes;
* canary listeners that count every accepted connection: on those private addresses, on
  127.0.0.1 and ::1 in the host, and on the origin's disallowed ports (8081, 443).

Every refused case is sent twice, as ``pingback.ping`` (xmlrpc.client; expects fault 16, the
same for every refusal) and as a webmention (expects 201, then status ``rejected`` with reason
"the source could not be fetched"): private sources in every spelling, names that resolve to
private addresses (``[fetch.resolve]`` and the system resolver), redirects to all of them, and
disallowed ports. Each case also checks that Linkback logged the fetch as ``blocked`` (so a
refusal is the guard's, not a failed connection to an address without a listener) and that no
canary counted a connection; at the end every canary must have counted zero, and the origin
must have seen only the paths the cases name (never a redirect's follow-up hop).

Why PUBLIC_IP is safe to use: 45.33.49.0/24 is ordinary public unicast space, so the guard
lets it through, but the script only ever reaches the two addresses it uses through /32 routes
on its own veth pair, inside this machine (checked with ``ip route get`` before any ping);
nothing is sent to the real hosts, and the routes disappear with the namespace.

Prints ``ok - name`` or ``FAIL - name: details`` per check and, as the very last line,
``N passed, M failed``. Exit status 0 only if every check passed. Standard library only.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402 (the shared origin, config, service and runner)
from harness import CheckFailed, expect  # noqa: E402
from pingback_client import TimeoutTransport, expect_fault  # noqa: E402

# --------------------------------------------------------------------------- the network

PUBLIC_IP = "45.33.49.80"  # the origin namespace's side of the first veth pair
PUBLIC_PEER = "45.33.49.1"  # the host's side (point-to-point: only /32 routes)
CANARY_SRC4 = "45.33.49.9"  # the host's side of the second veth pair
CANARY_SRC6 = "fd00:5eed::9"
PUBLIC_HOST = "public.example"
DISALLOWED_PORTS = (8081, 443)  # listened on at PUBLIC_IP; only 80 is allowed

# Private addresses held by the canary namespace, each with a listener on port 80.
CANARY_V4 = ("10.0.0.1", "172.16.0.1", "192.168.0.1", "169.254.169.254", "100.64.0.1")
CANARY_V6 = ("fc00::1",)

NS_PREFIX = "lbssrf-"
CLONE_NEWNET = 0x40000000

SITE_PREFIX = "https://checkpointasia.net/"
TARGET_PINGBACK = "https://checkpointasia.net/2024/ssrf-matrix-pingback/"
TARGET_WEBMENTION = "https://checkpointasia.net/2024/ssrf-matrix-webmention/"

STATUS_TIMEOUT_S = 15.0
UNREACHABLE_REASON = "the source could not be fetched"
# Linkback's log line for a fetch the guard refused (src/fetch.rs, `fetch_now`).
BLOCKED_LOG = re.compile(r'fetch from \S+ failed\b.*\boutcome="?blocked\b')

LINKING_HTML = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>A public blog post</title></head>
<body><article><h1>A public blog post</h1>
<p>It links to <a href="{TARGET_PINGBACK}">the pingback article</a> and to
<a href="{TARGET_WEBMENTION}">the webmention article</a>.</p>
</article></body>
</html>
"""


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs ``ip ARGS``; with ``check`` a failure raises with ip's own message."""
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise CheckFailed(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done


def run_in_netns(name: str, fn):
    """Calls ``fn`` on a thread moved into namespace ``name`` (setns affects one thread only).

    Sockets made there stay in that namespace whichever thread uses them later.
    """
    result: dict = {}

    def body() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns into {name}: {os.strerror(err)}")
            finally:
                os.close(fd)
            result["value"] = fn()
        except BaseException as e:  # handed back to the caller's thread
            result["error"] = e

    thread = threading.Thread(target=body, name=f"netns-{name}")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def remove_stale_namespaces() -> None:
    """Removes namespaces left by an earlier run that was killed (its pid is gone)."""
    listed = ip("netns", "list", check=False).stdout
    for line in listed.splitlines():
        name = line.split()[0] if line.split() else ""
        match = re.fullmatch(rf"{NS_PREFIX}(\d+)-[oc]", name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            ip("netns", "del", name, check=False)


def netns_available() -> str | None:
    """None if this process can create network namespaces, else why not."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "it must run as root (it creates network namespaces with `ip netns`)"
    probe = f"{NS_PREFIX}{os.getpid()}-p"
    done = ip("netns", "add", probe, check=False)
    if done.returncode != 0:
        return f"`ip netns add` failed: {done.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


class Canary:
    """A TCP listener that counts every connection it accepts (and closes it at once)."""

    def __init__(self, label: str, sock: socket.socket) -> None:
        self.label = label
        self.sock = sock
        self.sock.settimeout(0.2)
        self.peers: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, name=f"canary {label}", daemon=True)
        self.thread.start()

    @classmethod
    def bind(cls, host: str, port: int) -> "Canary":
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            sock.bind((host, port))
            sock.listen(64)
        except OSError:
            sock.close()
            raise
        label = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        return cls(label, sock)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            with self._lock:
                self.peers.append(str(peer[0]))
            conn.close()

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.peers)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2)
        self.sock.close()


class PublicOrigin(harness.Origin):
    """``harness.Origin`` listening on PUBLIC_IP:80; build it inside the origin namespace."""

    def __init__(self) -> None:
        super().__init__()  # bound to the namespace's own loopback; moved to PUBLIC_IP below
        server = self.server
        server.socket.close()
        server.socket = socket.socket(server.address_family, server.socket_type)
        server.server_address = (PUBLIC_IP, 80)
        server.server_bind()
        server.server_activate()
        self.port = 80

    @property
    def base(self) -> str:
        return f"http://{PUBLIC_HOST}"


# --------------------------------------------------------------------------- the cases


@dataclass
class Case:
    name: str
    source: str  # the URL sent as the source
    origin_paths: tuple[str, ...] = ()  # paths the origin must see once per ping (redirects)
    # True: refused before any fetch as not a valid http(s) URL (fault 0, HTTP 400), which is
    # what Linkback does with a URL that has userinfo; False: refused by the guard (fault 16).
    invalid: bool = False


class SsrfScenario(harness.Scenario):
    def __init__(self, binary: str) -> None:
        super().__init__(binary, prefix="linkback-e2e-ssrf-")
        self.origin_ns = f"{NS_PREFIX}{os.getpid()}-o"
        self.canary_ns = f"{NS_PREFIX}{os.getpid()}-c"
        self.veth_origin = f"lbs{os.getpid()}o"
        self.veth_canary = f"lbs{os.getpid()}c"
        self.namespaces: list[str] = []
        self.canaries: list[Canary] = []
        self.public: PublicOrigin | None = None
        self.loop_port = harness.free_port()
        self.notes: list[str] = []
        self.cases: list[Case] = []
        self.allowed_paths: set[str] = set()
        self._log_offset = 0

    # -- the network

    def build_network(self) -> None:
        remove_stale_namespaces()
        self._origin_namespace()
        self._canary_namespace()
        self._host_canaries()
        route = ip("route", "get", PUBLIC_IP).stdout
        expect(f"dev {self.veth_origin}h" in route,
               f"{PUBLIC_IP} is not routed through the test's veth: {route.strip()}")

    def _new_namespace(self, name: str, veth: str) -> None:
        ip("netns", "add", name)
        self.namespaces.append(name)
        ip("link", "add", f"{veth}h", "type", "veth", "peer", "name", f"{veth}n")
        ip("link", "set", f"{veth}n", "netns", name)
        ip("-n", name, "link", "set", "lo", "up")

    def _origin_namespace(self) -> None:
        ns, veth = self.origin_ns, self.veth_origin
        self._new_namespace(ns, veth)
        ip("addr", "add", PUBLIC_PEER, "peer", PUBLIC_IP, "dev", f"{veth}h")
        ip("link", "set", f"{veth}h", "up")
        ip("-n", ns, "addr", "add", PUBLIC_IP, "peer", PUBLIC_PEER, "dev", f"{veth}n")
        ip("-n", ns, "link", "set", f"{veth}n", "up")

        def listen():
            origin = PublicOrigin()
            canaries = [Canary.bind(PUBLIC_IP, port) for port in DISALLOWED_PORTS]
            return origin, canaries

        self.public, canaries = run_in_netns(ns, listen)
        self.canaries += canaries
        self.public.start()

    def _canary_namespace(self) -> None:
        ns, veth = self.canary_ns, self.veth_canary
        local = ip("-o", "addr").stdout + ip("route").stdout + ip("-6", "route").stdout
        wanted = []
        for addr in CANARY_V4 + CANARY_V6:
            # Never shadow an address this machine really uses (its own, or a gateway).
            if re.search(rf"(inet6? |via ){re.escape(addr)}[/ ]", local + " "):
                self.notes.append(f"canary {addr} not set up: this machine uses that address")
            else:
                wanted.append(addr)
        self._new_namespace(ns, veth)
        host, inside = f"{veth}h", f"{veth}n"
        ip("addr", "add", f"{CANARY_SRC4}/32", "dev", host)
        ip("-6", "addr", "add", f"{CANARY_SRC6}/128", "dev", host, "nodad")
        ip("link", "set", host, "up")
        for addr in wanted:
            if ":" in addr:
                ip("-n", ns, "-6", "addr", "add", f"{addr}/128", "dev", inside, "nodad")
            else:
                ip("-n", ns, "addr", "add", f"{addr}/32", "dev", inside)
        ip("-n", ns, "link", "set", inside, "up")
        ip("-n", ns, "route", "add", f"{CANARY_SRC4}/32", "dev", inside)
        ip("-n", ns, "-6", "route", "add", f"{CANARY_SRC6}/128", "dev", inside)
        for addr in wanted:
            if ":" in addr:
                ip("-6", "route", "add", f"{addr}/128", "dev", host, "src", CANARY_SRC6)
            else:
                ip("route", "add", f"{addr}/32", "dev", host, "src", CANARY_SRC4)
        self.canaries += run_in_netns(ns, lambda: [Canary.bind(a, 80) for a in wanted])
        # The canaries answer from the host: a connection made here must be counted.
        for addr in wanted:
            with socket.create_connection((addr, 80), timeout=3):
                pass
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(c.count == 0 for c in self.canaries[-len(wanted):]):
            time.sleep(0.05)
        silent = [c.label for c in self.canaries[-len(wanted):] if c.count != 1]
        expect(not silent, f"canaries not reachable from the host: {silent}")
        for canary in self.canaries:
            canary.peers.clear()

    def _host_canaries(self) -> None:
        for host in ("127.0.0.1", "::1"):
            self.canaries.append(Canary.bind(host, self.loop_port))
            try:
                self.canaries.append(Canary.bind(host, 80))
            except OSError as e:
                self.notes.append(f"canary {host} port 80 not set up ({e.strerror})")

    def teardown_network(self) -> None:
        for canary in self.canaries:
            canary.close()
        self.canaries = []
        if self.public is not None:
            try:
                self.public.stop()
            except Exception:
                pass
            self.public = None
        for veth in (self.veth_origin, self.veth_canary):
            ip("link", "del", f"{veth}h", check=False)
        for name in reversed(self.namespaces):
            ip("netns", "del", name, check=False)
        self.namespaces = []

    def cleanup(self) -> None:
        try:
            self.teardown_network()
        finally:
            super().cleanup()

    # -- the service

    def write_config(self) -> None:
        p = self.loop_port
        resolve = {
            PUBLIC_HOST: f"{PUBLIC_IP}:80",
            "evil.example": "127.0.0.1:80",
            "evil6.example": "[::1]:80",
            "evil-port.example": f"127.0.0.1:{p}",
            "meta.example": "169.254.169.254:80",
            "ten.example": "10.0.0.1:80",
            "cgnat.example": "100.64.0.1:80",
            "ula.example": "[fc00::1]:80",
            "mapped.example": "[::ffff:127.0.0.1]:80",
        }
        harness.write_config(
            self.config, self.data_dir, sites=[("checkpointasia", [SITE_PREFIX])],
            resolve=resolve, allow_private=False,
        )
        # Keys of [fetch] that write_config does not take: only port 80, and no reuse of a
        # fetch outcome, so every ping below makes its own fetch (and its own origin hit).
        text = self.config.read_text(encoding="utf-8")
        text = text.replace("[fetch]\n", "[fetch]\nallowed_ports = [80]\ncache_ttl_ms = 0\n", 1)
        self.config.write_text(text, encoding="utf-8")

    def proxy(self) -> xmlrpc.client.ServerProxy:
        return xmlrpc.client.ServerProxy(f"{self.linkback.base}/xmlrpc", transport=TimeoutTransport())

    def ping(self, source: str, target: str):
        with self.proxy() as proxy:
            return proxy.pingback.ping(source, target)

    def webmention(self, source: str, target: str) -> dict:
        """Sends a webmention; expects 201 and returns its status document once not queued."""
        body = urllib.parse.urlencode({"source": source, "target": target}).encode()
        status, headers, reply = self.linkback.http(
            "POST", "/webmention", body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        expect(status == 201, f"POST /webmention -> HTTP {status}: {reply[:300]!r}")
        location = headers.get("location", "")
        expect(location.startswith("/webmention/"), f"Location {location!r}")
        deadline = time.monotonic() + STATUS_TIMEOUT_S
        while True:
            code, document = self.linkback.get_json(location)
            expect(code == 200 and isinstance(document, dict),
                   f"GET {location} -> HTTP {code}: {harness.short(document)}")
            if document.get("status") != "queued" or time.monotonic() > deadline:
                return document
            time.sleep(0.1)

    def log_since(self) -> str:
        """The service's log written since the last call."""
        with open(self.linkback.log_path, "rb") as f:
            f.seek(self._log_offset)
            data = f.read()
        self._log_offset += len(data)
        return harness.ANSI_ESCAPE.sub("", data.decode("utf-8", errors="replace"))

    def canary_counts(self) -> dict[str, int]:
        return {c.label: c.count for c in self.canaries}

    # -- the cases

    def build_cases(self) -> None:
        p = self.loop_port
        hosts_name = loopback_name_from_hosts_file()
        direct = [
            ("loopback 127.0.0.1", f"http://127.0.0.1:{p}/"),
            ("loopback 127.0.0.1 on port 80", "http://127.0.0.1/"),
            ("loopback elsewhere in 127/8", "http://127.9.9.9/"),
            ("decimal 2130706433", f"http://2130706433:{p}/"),
            ("hex 0x7f000001", f"http://0x7f000001:{p}/"),
            ("hex short 0x7f.1", f"http://0x7f.1:{p}/"),
            ("octal 0177.0.0.1", f"http://0177.0.0.1:{p}/"),
            ("octal 017700000001", f"http://017700000001:{p}/"),
            ("short 127.1", f"http://127.1:{p}/"),
            ("short 127.0.1", f"http://127.0.1:{p}/"),
            ("trailing dot 127.0.0.1.", f"http://127.0.0.1.:{p}/"),
            ("percent-encoded %31%32%37.0.0.1", f"http://%31%32%37.0.0.1:{p}/"),
            ("full-width digits", f"http://\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11:{p}/"),
            ("userinfo public.example@127.0.0.1", f"http://{PUBLIC_HOST}@127.0.0.1:{p}/"),
            ("unspecified 0.0.0.0", f"http://0.0.0.0:{p}/"),
            ("unspecified 0", f"http://0:{p}/"),
            ("IPv6 loopback [::1]", f"http://[::1]:{p}/"),
            ("IPv6 loopback [::1] on port 80", "http://[::1]/"),
            ("IPv6 unspecified [::]", f"http://[::]:{p}/"),
            ("IPv4-mapped [::ffff:127.0.0.1]", f"http://[::ffff:127.0.0.1]:{p}/"),
            ("IPv4-mapped hex [::ffff:7f00:1]", "http://[::ffff:7f00:1]/"),
            ("IPv4-mapped metadata [::ffff:169.254.169.254]", "http://[::ffff:169.254.169.254]/"),
            ("IPv4-compatible [::127.0.0.1]", f"http://[::127.0.0.1]:{p}/"),
            ("NAT64 [64:ff9b::7f00:1]", "http://[64:ff9b::7f00:1]/"),
            ("6to4 [2002:7f00:1::]", "http://[2002:7f00:1::]/"),
            ("RFC 1918 10.0.0.1", "http://10.0.0.1/"),
            ("RFC 1918 172.16.0.1", "http://172.16.0.1/"),
            ("RFC 1918 192.168.0.1", "http://192.168.0.1/"),
            ("metadata 169.254.169.254", "http://169.254.169.254/latest/meta-data/"),
            ("metadata as decimal 2852039166", "http://2852039166/latest/meta-data/"),
            ("metadata as hex 0xa9fea9fe", "http://0xa9fea9fe/latest/meta-data/"),
            ("CGNAT 100.64.0.1", "http://100.64.0.1/"),
            ("unique-local [fc00::1]", "http://[fc00::1]/"),
            ("link-local [fe80::1]", "http://[fe80::1]/"),
            ("localhost", f"http://localhost:{p}/"),
            ("LOCALHOST. on port 80", "http://LOCALHOST./"),
            ("sub.localhost", "http://ssrf.localhost/"),
            ("fetch.resolve name -> 127.0.0.1:80", "http://evil.example/"),
            ("fetch.resolve name -> [::1]:80", "http://evil6.example/"),
            ("fetch.resolve name -> 127.0.0.1, other port", "http://evil-port.example/"),
            ("fetch.resolve name -> 169.254.169.254", "http://meta.example/latest/meta-data/"),
            ("fetch.resolve name -> 10.0.0.1", "http://ten.example/"),
            ("fetch.resolve name -> 100.64.0.1", "http://cgnat.example/"),
            ("fetch.resolve name -> [fc00::1]", "http://ula.example/"),
            ("fetch.resolve name -> [::ffff:127.0.0.1]", "http://mapped.example/"),
            (f"public origin on disallowed port {PUBLIC_HOST}:8081", f"http://{PUBLIC_HOST}:8081/post/"),
            (f"public origin on disallowed port {PUBLIC_IP}:8081", f"http://{PUBLIC_IP}:8081/post/"),
            (f"public origin over https (port 443) https://{PUBLIC_IP}/", f"https://{PUBLIC_IP}/post/"),
        ]
        if hosts_name:
            direct.append((f"/etc/hosts name {hosts_name} -> loopback (system resolver)",
                           f"http://{hosts_name}/"))
        else:
            self.notes.append("no /etc/hosts name other than localhost maps to loopback: "
                              "the system-resolver case is not run")
        for name, url in direct:
            self.cases.append(Case(f"source {name}", url, invalid="@" in url))

        statuses = (301, 302, 303, 307, 308)
        for i, (name, location) in enumerate(direct):
            slug = f"/r/{i}/"
            status = statuses[i % len(statuses)]
            # A header is Latin-1: the full-width digits go percent-encoded (as UTF-8), which
            # the URL parser decodes before its IDNA mapping, so they still mean 127.0.0.1.
            location = urllib.parse.quote(location, safe="".join(map(chr, range(33, 127))))
            self.public.put("http://" + PUBLIC_HOST + slug, "text/plain", b"moved\n",
                            status=status, headers=[("Location", location)])
            self.allowed_paths.add(slug)
            self.cases.append(Case(f"redirect {status} to {name}", f"http://{PUBLIC_HOST}{slug}",
                                   origin_paths=(slug,)))
        # Two hops: a public one (followed), then a private one (refused).
        first = "/chain/"
        self.public.put(f"http://{PUBLIC_HOST}{first}", "text/plain", b"moved\n", status=302,
                        headers=[("Location", "/r/0/")])
        self.allowed_paths.add(first)
        self.cases.append(Case("redirect chain: public hop, then 127.0.0.1",
                               f"http://{PUBLIC_HOST}{first}", origin_paths=(first, "/r/0/")))

    def put_controls(self) -> None:
        for url in (f"http://{PUBLIC_HOST}/post/", f"http://{PUBLIC_IP}/post/",
                    f"http://{PUBLIC_HOST}/after-redirect/"):
            self.public.put_html(url, LINKING_HTML)
        self.public.put(f"http://{PUBLIC_HOST}/redirect-ok/", "text/plain", b"moved\n",
                        status=302, headers=[("Location", "/after-redirect/")])
        self.allowed_paths |= {"/post/", "/after-redirect/", "/redirect-ok/"}

    # -- checks

    def check_control(self, source: str, paths: tuple[str, ...]) -> None:
        before = {path: len(self.public.hits_of(f"http://{PUBLIC_HOST}{path}")) for path in paths}
        try:
            answer = self.ping(source, TARGET_PINGBACK)
        except xmlrpc.client.Fault as fault:
            raise CheckFailed(f"pingback: fault {fault.faultCode}: {fault.faultString!r}") from None
        expect(isinstance(answer, str) and answer, f"pingback: expected a success string, got {answer!r}")
        document = self.webmention(source, TARGET_WEBMENTION)
        expect(document.get("status") == "verified", f"webmention status {harness.short(document)}")
        for path in paths:
            hits = len(self.public.hits_of(f"http://{PUBLIC_HOST}{path}")) - before[path]
            expect(hits == 2, f"the origin saw {hits} requests for {path}, expected 2")

    def check_refused(self, case: Case) -> None:
        before = self.canary_counts()
        hits_before = {path: len(self.public.hits_of(f"http://{PUBLIC_HOST}{path}"))
                       for path in case.origin_paths}
        self.log_since()
        problems = []
        if case.invalid:
            problems += self._refused_as_invalid(case)
        else:
            problems += self._refused_by_guard(case)
        after = self.canary_counts()
        reached = {label: after[label] - before.get(label, 0)
                   for label in after if after[label] != before.get(label, 0)}
        if reached:
            problems.append(f"CONNECTION MADE to {reached}")
        for path in case.origin_paths:
            hits = len(self.public.hits_of(f"http://{PUBLIC_HOST}{path}")) - hits_before[path]
            if hits != 2:
                problems.append(f"the origin saw {hits} requests for {path}, expected 2 (one per ping)")
        expect(not problems, "; ".join(problems))

    def _refused_by_guard(self, case: Case) -> list[str]:
        problems = []
        try:
            expect_fault(16, lambda: self.ping(case.source, TARGET_PINGBACK))
        except CheckFailed as e:
            problems.append(f"pingback: {e}")
        if not BLOCKED_LOG.search(self.log_since()):
            problems.append("pingback: no `outcome=blocked` fetch failure in the log")
        try:
            document = self.webmention(case.source, TARGET_WEBMENTION)
            if document != {"status": "rejected", "reason": UNREACHABLE_REASON}:
                problems.append(f"webmention: status {harness.short(document)}")
        except CheckFailed as e:
            problems.append(f"webmention: {e}")
        if not BLOCKED_LOG.search(self.log_since()):
            problems.append("webmention: no `outcome=blocked` fetch failure in the log")
        return problems

    def _refused_as_invalid(self, case: Case) -> list[str]:
        problems = []
        try:
            expect_fault(0, lambda: self.ping(case.source, TARGET_PINGBACK))
        except CheckFailed as e:
            problems.append(f"pingback: {e}")
        body = urllib.parse.urlencode({"source": case.source, "target": TARGET_WEBMENTION})
        status, _, reply = self.linkback.http(
            "POST", "/webmention", body=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"})
        if status != 400:
            problems.append(f"webmention: HTTP {status} (expected 400): {reply[:200]!r}")
        if "fetch from" in self.log_since():
            problems.append("a fetch was attempted")
        return problems

    def check_no_canary_connection(self) -> None:
        touched = {c.label: c.peers for c in self.canaries if c.count}
        expect(not touched, f"connections reached canaries: {touched}")

    def check_origin_paths(self) -> None:
        with self.public._lock:
            seen = {path for _, path, _ in self.public.hits}
        unexpected = sorted(seen - self.allowed_paths)
        expect(not unexpected, f"the origin saw requests for other paths: {unexpected}")

    # -- the plan

    def run(self, runner: harness.Runner) -> None:
        s = self
        if not runner.check("network namespaces, the public origin and the canaries are set up",
                            s.build_network):
            runner.skip_rest(["every other check"], "the network could not be set up")
            return
        for note in s.notes:
            print(f"# note: {note}", flush=True)
        print(f"# origin {PUBLIC_HOST} = {PUBLIC_IP}:80 in {s.origin_ns}; canaries: "
              + ", ".join(c.label for c in s.canaries), flush=True)
        s.put_controls()
        s.build_cases()
        s.write_config()
        if not runner.check("linkback starts (allow_private = false, allowed_ports = [80])",
                            s.linkback.start):
            runner.skip_rest(["every other check"], "the service did not start")
            return
        controls = [
            (f"control: {PUBLIC_HOST} (public address via the namespace) is verified",
             f"http://{PUBLIC_HOST}/post/", ("/post/",)),
            (f"control: {PUBLIC_IP} as an IP literal is verified", f"http://{PUBLIC_IP}/post/", ()),
            ("control: a redirect to a public page is followed and verified",
             f"http://{PUBLIC_HOST}/redirect-ok/", ("/redirect-ok/", "/after-redirect/")),
        ]
        for name, source, paths in controls:
            runner.check(name, lambda source=source, paths=paths: s.check_control(source, paths))
        for case in s.cases:
            how = "refused as invalid (fault 0, 400)" if case.invalid else "refused"
            runner.check(f"{how}: {case.name} ({case.source})",
                         lambda case=case: s.check_refused(case))
        runner.check("no canary listener ever received a connection", s.check_no_canary_connection)
        runner.check("the origin saw only the cases' own paths (no follow-up hop)",
                     s.check_origin_paths)


def loopback_name_from_hosts_file() -> str | None:
    """A name /etc/hosts maps to a loopback address that is not `localhost` (or None)."""
    try:
        lines = Path("/etc/hosts").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and (fields[0].startswith("127.") or fields[0] == "::1"):
            for name in fields[1:]:
                lowered = name.lower().rstrip(".")
                if lowered != "localhost" and not lowered.endswith(".localhost") \
                        and re.fullmatch(r"[a-z0-9.-]+", lowered):
                    return lowered
    return None


def main(argv: list[str]) -> int:
    why = netns_available()
    if why is not None:
        print(f"FAIL - setup: the SSRF matrix cannot run: {why}", flush=True)
        print("0 passed, 1 failed", flush=True)
        return 1

    # SIGTERM unwinds like Ctrl-C, so the namespaces are removed in either case.
    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        return harness.main(argv, SsrfScenario, explain={
            xmlrpc.client.Fault: lambda f: f"unexpected Fault {f.faultCode}: {f.faultString!r}",
            xmlrpc.client.ProtocolError: lambda e: f"HTTP {e.errcode} {e.errmsg} from {e.url}",
        })
    except KeyboardInterrupt:
        print("interrupted; the namespaces were removed", flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv))
