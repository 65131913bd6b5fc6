//! Hostile input: slow clients (headers and bodies trickled), bodies over the limit, XML bombs
//! and deep nesting, invalid UTF-8, and hostile source pages (20 MB, endless, gzip bombs,
//! endless redirects, binary types). Each answer is a clear fault or status, memory stays
//! bounded, and the service keeps answering.
//!
//! Covered elsewhere and not repeated here: the decoder's limits, exact (`xmlrpc.rs` unit tests
//! `doctype_is_refused_fast_and_specifically`, `depth_limit_is_exact`,
//! `element_limit_is_exact`, `bad_input_gets_the_interop_fault_code`); the fetcher's caps on a
//! bare client (`fetch.rs`: `the_body_is_capped_at_max_bytes`,
//! `gzip_is_decoded_and_the_cap_counts_decoded_bytes`, `redirects_are_followed_up_to_the_limit`,
//! `non_text_types_are_not_read`, `a_slow_page_times_out`); and over HTTP a small entity bomb,
//! 40-deep arrays, a 64 KiB + 1 XML-RPC body (413), an image/png source and a one-URL redirect
//! loop (`pingback.rs`: `protocol_level_faults_and_methods`, `faults_have_their_spec_codes`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use linkback::origin::OriginPage;
use linkback::routes::{MAX_PING_BODY_BYTES, REQUEST_TIMEOUT};
use linkback::server::HEADER_READ_TIMEOUT;
use linkback::xmlrpc::{self, MethodResponse};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::TestServer;

const FORM: &str = "application/x-www-form-urlencoded";

/// Slack on top of a server-side timeout before a test calls it missed: generous, so that a
/// busy CI machine does not fail a test that is only about "bounded".
const SLACK: Duration = Duration::from_secs(5);

/// The address part of `server.base`, for raw sockets.
fn addr(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

/// GET /healthz answers 200 within two seconds.
async fn assert_answers(server: &TestServer) {
    let started = Instant::now();
    let response = tokio::time::timeout(
        Duration::from_secs(2),
        server
            .client()
            .get(format!("{}/healthz", server.base))
            .send(),
    )
    .await
    .expect("/healthz answers within 2 s")
    .expect("/healthz answers");
    assert_eq!(response.status().as_u16(), 200);
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// After the abuse: /healthz answers and an honest pingback is still verified and accepted.
async fn assert_still_serving(server: &TestServer, name: &str) {
    assert_answers(server).await;
    let target = server.seed.target.clone();
    let source = format!("http://blog.example.net/honest-after-{name}/");
    server
        .serve_and_ping(&source, &target, "Honest")
        .await
        .unwrap_or_else(|f| panic!("after {name}: fault {} {}", f.code, f.message));
}

/// Reads from `socket` until it is closed (EOF or reset); what the server sent before closing.
async fn read_until_closed(socket: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return received,
            Ok(n) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// Writes `bytes` one per `every` until the server answers or closes the connection, or the
/// bytes run out; what the server sent, and whether it answered or closed.
async fn trickle(socket: TcpStream, bytes: &[u8], every: Duration) -> (Vec<u8>, bool) {
    let (mut reader, mut writer) = socket.into_split();
    // Done at EOF, or once an answer's head is in (the server may keep the socket open for
    // the rest of a body it will never read).
    let read = tokio::spawn(async move {
        let mut received = Vec::new();
        let mut buf = [0_u8; 4096];
        while !received.windows(4).any(|w| w == b"\r\n\r\n") {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
        received
    });
    for byte in bytes {
        if read.is_finished() || writer.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(every).await;
    }
    let closed = read.is_finished();
    if !closed {
        read.abort();
        return (Vec::new(), false);
    }
    (read.await.unwrap_or_default(), true)
}

/// While `slow` runs, /healthz is asked once a second and must answer promptly every time.
async fn answering_meanwhile<T>(server: &TestServer, slow: impl Future<Output = T>) -> T {
    let mut slow = std::pin::pin!(slow);
    loop {
        tokio::select! {
            result = &mut slow => return result,
            () = tokio::time::sleep(Duration::from_secs(1)) => assert_answers(server).await,
        }
    }
}

/// Slowloris: a request line and headers sent one byte a second are cut off at
/// `HEADER_READ_TIMEOUT`; so is a connection that sends nothing, and an idle keep-alive
/// connection after its first answer. Meanwhile everyone else is answered promptly.
#[tokio::test]
async fn trickled_headers_are_cut_off_at_the_header_timeout() {
    let server = TestServer::start().await;
    let endless_headers: Vec<u8> = b"POST /xmlrpc HTTP/1.1\r\nHost: linkback.test\r\n"
        .iter()
        .copied()
        .chain(std::iter::repeat_n(b'a', 600))
        .collect();
    let started = Instant::now();

    let trickler = TcpStream::connect(addr(&server)).await.expect("connect");
    let mut silent = TcpStream::connect(addr(&server)).await.expect("connect");
    let mut idle = TcpStream::connect(addr(&server)).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: linkback.test\r\n\r\n")
        .await
        .expect("write");
    let mut first = [0_u8; 12];
    idle.read_exact(&mut first).await.expect("first answer");
    assert_eq!(&first, b"HTTP/1.1 200");

    let ((answer, closed), silent_got, idle_got) = answering_meanwhile(&server, async {
        tokio::join!(
            trickle(trickler, &endless_headers, Duration::from_secs(1)),
            async {
                let got = read_until_closed(&mut silent).await;
                (got, started.elapsed())
            },
            async {
                let got = read_until_closed(&mut idle).await;
                (got, started.elapsed())
            },
        )
    })
    .await;
    let elapsed = started.elapsed();
    assert!(closed, "the trickler was cut off");
    assert!(answer.is_empty(), "closed without an answer: {answer:?}");
    assert!(
        elapsed >= HEADER_READ_TIMEOUT - Duration::from_secs(1)
            && elapsed < HEADER_READ_TIMEOUT + SLACK,
        "cut off after {elapsed:?}"
    );
    for (name, (got, at)) in [("silent", silent_got), ("idle keep-alive", idle_got)] {
        assert!(
            at < HEADER_READ_TIMEOUT + SLACK,
            "{name} closed after {at:?}"
        );
        assert!(
            got.len() < 200,
            "{name}: nothing but the rest of an answer: {got:?}"
        );
    }
    assert_still_serving(&server, "slowloris").await;
    server.stop().await;
}

/// A body trickled a byte a second after complete headers: the request timeout answers 408
/// (the router's `REQUEST_TIMEOUT`; not shortened for the test, so this takes 30 s).
#[tokio::test]
async fn a_trickled_body_is_answered_408_at_the_request_timeout() {
    let server = TestServer::start().await;
    let mut socket = TcpStream::connect(addr(&server)).await.expect("connect");
    socket
        .write_all(
            b"POST /xmlrpc HTTP/1.1\r\nHost: linkback.test\r\nContent-Type: text/xml\r\nContent-Length: 2000\r\n\r\n<?xml",
        )
        .await
        .expect("headers");
    let started = Instant::now();
    let body = vec![b' '; 1_000];
    let (answer, closed) =
        answering_meanwhile(&server, trickle(socket, &body, Duration::from_secs(1))).await;
    let elapsed = started.elapsed();
    assert!(closed, "the request ended");
    assert!(
        answer.starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    assert!(
        elapsed >= REQUEST_TIMEOUT - Duration::from_secs(1) && elapsed < REQUEST_TIMEOUT + SLACK,
        "ended after {elapsed:?}"
    );
    assert_still_serving(&server, "trickled-body").await;
    server.stop().await;
}

/// Sends one raw request and reads the answer until the server closes or `Connection: close`
/// ends it; the status code and how long it took.
async fn raw_request(server: &TestServer, request: &[u8]) -> (u16, Duration) {
    let started = Instant::now();
    let mut socket = TcpStream::connect(addr(server)).await.expect("connect");
    // The server may answer and close before the whole body is written: a failed write is fine.
    let _ = socket.write_all(request).await;
    let answer = tokio::time::timeout(REQUEST_TIMEOUT + SLACK, async {
        let mut answer = Vec::new();
        let mut buf = [0_u8; 1024];
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
        answer
    })
    .await
    .expect("answered within the request timeout");
    let status = std::str::from_utf8(&answer)
        .ok()
        .and_then(|text| text.get(9..12))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    (status, started.elapsed())
}

/// Over `MAX_PING_BODY_BYTES` on every receiving endpoint: 413, whether the length is
/// announced (even 10 GB that never come), streamed in chunks without a length, or sent
/// whole. Nothing is registered.
#[tokio::test]
async fn bodies_over_the_limit_are_refused_with_413_on_every_endpoint() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("target", &target)
        .finish();
    let trackback = format!("/trackback?{query}");
    let endpoints = [
        ("/xmlrpc", "text/xml"),
        (trackback.as_str(), FORM),
        ("/webmention", FORM),
    ];
    let big = {
        let mut body = format!("source=http://blog.example.net/big/&target={target}&x=");
        body.push_str(&"a".repeat(MAX_PING_BODY_BYTES));
        body.into_bytes()
    };
    for (path, content_type) in endpoints {
        // Whole, with its length.
        let (status, _, _) = server.post(path, content_type, big.clone()).await;
        assert_eq!(status, 413, "{path}: whole");
        // Chunked, no length: refused once the limit is passed.
        let mut chunked = format!(
            "POST {path} HTTP/1.1\r\nHost: linkback.test\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        for piece in big.chunks(8 * 1024) {
            chunked.extend(format!("{:x}\r\n", piece.len()).bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let (status, _) = raw_request(&server, &chunked).await;
        assert_eq!(status, 413, "{path}: chunked");
    }
    // Announced at 10 GB and never sent, on all three at once: the length alone is refused
    // (413) before any byte is awaited.
    let announced = endpoints.map(|(path, content_type)| {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: linkback.test\r\nContent-Type: {content_type}\r\nContent-Length: 10000000000\r\n\r\n"
        );
        let server = &server;
        async move { (path, raw_request(server, head.as_bytes()).await) }
    });
    for (path, (status, took)) in
        answering_meanwhile(&server, futures_util::future::join_all(announced)).await
    {
        println!("{path}: 10 GB announced, never sent: {status} after {took:?}");
        assert!(
            status == 413 && took < SLACK,
            "{path}: announced, {status} after {took:?}"
        );
    }
    assert!(server.listing(&target).await.is_empty());
    assert_still_serving(&server, "413").await;
    server.stop().await;
}

fn fault_code(body: &[u8]) -> (i32, String) {
    match xmlrpc::decode_response(body).expect("a methodResponse") {
        MethodResponse::Fault(fault) => (fault.code, fault.message),
        MethodResponse::Success(value) => panic!("expected a fault, got {value:?}"),
    }
}

/// The full billion laughs (10^9 expansions declared in a DOCTYPE), 10 000 nested elements and
/// 3 000 nested arrays (9 000 levels): each is the parse fault -32700, within a second or two, over HTTP.
#[tokio::test]
async fn xml_bombs_and_deep_nesting_get_the_parse_fault_quickly() {
    let server = TestServer::start().await;
    let mut laughs =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
    for level in 1..=9 {
        let previous = if level == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", level - 1)
        };
        laughs.push_str(&format!(
            " <!ENTITY lol{level} \"{}\">\n",
            format!("&{previous};").repeat(10)
        ));
    }
    laughs.push_str(
        "]>\n<methodCall><methodName>pingback.ping</methodName><params><param>\
         <value><string>&lol9;</string></value></param></params></methodCall>",
    );
    let call = |inner: String| {
        format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>pingback.ping</methodName><params><param><value>{inner}</value></param></params></methodCall>"
        )
    };
    // Unclosed: 10 000 closed elements would not fit the 64 KiB body limit.
    let elements = call("<x>".repeat(10_000));
    let arrays = call("<array><data><value>".repeat(3_000));
    for (name, body) in [
        ("billion laughs", laughs),
        ("10 000 nested elements", elements),
        ("3 000 nested arrays", arrays),
    ] {
        assert!(body.len() <= MAX_PING_BODY_BYTES, "{name} fits the limit");
        let started = Instant::now();
        let (status, reply) = server.post_xmlrpc(body.into_bytes()).await;
        let took = started.elapsed();
        assert_eq!(status, 200, "{name}");
        let (code, message) = fault_code(&reply);
        assert_eq!(code, -32700, "{name}: {message}");
        assert!(took < Duration::from_secs(2), "{name} took {took:?}");
    }
    assert_still_serving(&server, "xml-bombs").await;
    server.stop().await;
}

/// Invalid UTF-8: in an XML-RPC string, the parse fault naming the byte; in a Webmention
/// field (raw or percent-encoded) or its Content-Type, 400 with a reason; in a TrackBack form
/// declared UTF-8, the usual error document (the bad bytes become U+FFFD, and the URL is then
/// not one we can fetch). Nothing is registered.
#[tokio::test]
async fn invalid_utf8_gets_a_clear_fault_or_400() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    let mut body = b"<?xml version=\"1.0\" encoding=\"utf-8\"?><methodCall><methodName>pingback.ping</methodName><params><param><value><string>http://blog.example.net/".to_vec();
    body.extend_from_slice(b"\xff\xfe\xc3(");
    body.extend_from_slice(
        format!("</string></value></param><param><value><string>{target}</string></value></param></params></methodCall>").as_bytes(),
    );
    let (status, reply) = server.post_xmlrpc(body).await;
    assert_eq!(status, 200);
    let (code, message) = fault_code(&reply);
    assert_eq!(code, -32700, "{message}");
    assert!(message.contains("utf-8"), "{message}");
    let method = b"<?xml version=\"1.0\"?><methodCall><methodName>ping\xc0\xafback</methodName></methodCall>";
    let (_, reply) = server.post_xmlrpc(method.to_vec()).await;
    assert_eq!(fault_code(&reply).0, -32700, "in the method name");

    let webmention_cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "percent-encoded",
            format!("source=http://blog.example.net/%FF%FE/&target={target}").into_bytes(),
            FORM,
        ),
        (
            "raw bytes",
            [
                b"source=http://blog.example.net/\xff\xfe/&target=".as_slice(),
                target.as_bytes(),
            ]
            .concat(),
            FORM,
        ),
        (
            "truncated sequence in target",
            format!("source=http://blog.example.net/x/&target={target}%E2%82").into_bytes(),
            FORM,
        ),
    ];
    for (name, body, content_type) in webmention_cases {
        let (status, _, reason) = server.post("/webmention", content_type, body).await;
        assert_eq!(status, 400, "{name}: {reason}");
        assert!(reason.contains("UTF-8"), "{name}: {reason}");
    }
    // A Content-Type header that is not even text: no form, 400.
    let request = "POST /webmention HTTP/1.1\r\nHost: linkback.test\r\nContent-Type: application/x-www-form-\u{ff}urlencoded\r\nContent-Length: 9\r\nConnection: close\r\n\r\nsource=xx";
    let (status, _) = raw_request(&server, request.as_bytes()).await;
    assert_eq!(status, 400, "a Content-Type of stray bytes");

    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("target", &target)
        .finish();
    let mut form = b"url=http://blog.example.net/%FF\xfe/&title=caf\xe9&blog_name=".to_vec();
    form.extend_from_slice(b"\xc3\x28");
    let (status, _, text) = server
        .post(
            &format!("/trackback?{query}"),
            "application/x-www-form-urlencoded; charset=utf-8",
            form,
        )
        .await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("<error>1</error>"), "{text}");
    assert!(text.contains("<message>"), "{text}");

    assert!(server.listing(&target).await.is_empty());
    assert_still_serving(&server, "utf8").await;
    server.stop().await;
}

/// `VmRSS` and `VmHWM` of this process (the test binary, which runs the service), in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Runs `work` while sampling `VmRSS` every 5 ms; the work's result and the largest growth
/// over the resident size before it, in KiB.
async fn peak_growth<T>(work: impl Future<Output = T>) -> (T, u64) {
    let (before, _) = memory_kib();
    let peak = Arc::new(AtomicU64::new(before));
    let sampler = tokio::spawn({
        let peak = Arc::clone(&peak);
        async move {
            loop {
                peak.fetch_max(memory_kib().0, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    });
    let result = work.await;
    sampler.abort();
    peak.fetch_max(memory_kib().0, Ordering::SeqCst);
    (result, peak.load(Ordering::SeqCst).saturating_sub(before))
}

/// A raw HTTP/1.1 origin that answers every request with `head`, then `prefix`, then `chunk`
/// over and over until the client hangs up (or `cap` bytes, a backstop): a page that never
/// ends, generated as it is sent so that the origin itself holds almost nothing.
struct EndlessOrigin {
    addr: std::net::SocketAddr,
    /// Body bytes written to the socket so far, over all requests.
    written: Arc<AtomicU64>,
}

impl EndlessOrigin {
    async fn start(head: &'static str, prefix: Vec<u8>, chunk: Vec<u8>, cap: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let written = Arc::new(AtomicU64::new(0));
        let (prefix, chunk) = (Arc::new(prefix), Arc::new(chunk));
        let counter = Arc::clone(&written);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (prefix, chunk, counter) = (
                    Arc::clone(&prefix),
                    Arc::clone(&chunk),
                    Arc::clone(&counter),
                );
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0_u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16_384 {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    if socket.write_all(head.as_bytes()).await.is_err()
                        || socket.write_all(&prefix).await.is_err()
                    {
                        return;
                    }
                    let mut sent = prefix.len() as u64;
                    while sent < cap && socket.write_all(&chunk).await.is_ok() {
                        sent += chunk.len() as u64;
                        counter.fetch_add(chunk.len() as u64, Ordering::SeqCst);
                    }
                });
            }
        });
        Self { addr, written }
    }
}

/// Deflate bits, least significant first (RFC 1951 §3.1.1); Huffman codes most significant
/// first.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u32,
    len: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= value << self.len;
        self.len += count;
        while self.len >= 8 {
            self.out.push((self.acc & 0xff) as u8);
            self.acc >>= 8;
            self.len -= 8;
        }
    }

    fn code(&mut self, code: u32, count: u32) {
        self.put(code.reverse_bits() >> (32 - count), count);
    }

    /// A literal byte under the fixed Huffman code.
    fn literal(&mut self, byte: u8) {
        match byte {
            0..=143 => self.code(0x30 + u32::from(byte), 8),
            _ => self.code(0x190 + u32::from(byte) - 144, 9),
        }
    }

    /// Ends the current fixed block, then writes an empty, non-final stored block, which pads
    /// to a byte boundary: what follows can be any byte-aligned block.
    fn end_block_aligned(mut self) -> Vec<u8> {
        self.code(0, 7); // end of block
        self.put(0, 3); // BFINAL = 0, BTYPE = 00 (stored)
        if self.len > 0 {
            self.put(0, 8 - self.len);
        }
        self.out.extend_from_slice(&[0x00, 0x00, 0xff, 0xff]); // LEN 0, NLEN
        self.out
    }
}

/// A gzip member's start: the header and a fixed-Huffman block of `text`'s literals.
fn gzip_start(text: &[u8]) -> Vec<u8> {
    let mut bits = Bits::default();
    bits.put(0b010, 3); // BFINAL = 0, BTYPE = 01 (fixed)
    for &byte in text {
        bits.literal(byte);
    }
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend(bits.end_block_aligned());
    out
}

/// A byte-aligned deflate block that repeats the last byte `258 * matches` times (13 bits per
/// 258 bytes: about 160 to 1); it can follow itself forever.
fn gzip_repeat_block(matches: usize) -> Vec<u8> {
    let mut bits = Bits::default();
    bits.put(0b010, 3);
    for _ in 0..matches {
        bits.code(0b1100_0101, 8); // length code 285: 258 bytes
        bits.code(0, 5); // distance code 0: distance 1
    }
    bits.end_block_aligned()
}

fn page_linking(target: &str, title: &str) -> String {
    format!(
        "<!doctype html><html><head><title>{title}</title></head><body><p>Read <a href=\"{target}\">this</a>.</p>"
    )
}

/// Huge and endless source pages, one after the other on one server so the memory figures do
/// not mix: a 20 MB page (linking at its start: accepted; only past `max_bytes`: no link, 17),
/// a page that never ends, and a gzip bomb that inflates without end from a few KiB; the last
/// two are judged on their first `max_bytes` and accepted. The endless origins count what they
/// managed to send before we hung up; the resident size is sampled throughout.
#[tokio::test]
async fn huge_endless_and_gzip_bomb_pages_are_judged_on_their_first_max_bytes() {
    const TWENTY_MB: usize = 20 * 1024 * 1024;
    const CAP: u64 = 1 << 30;
    let target = crate::support::Seed::load().target;
    let filler = "<p>All work and no play makes Jack a dull boy.</p>\n";
    let endless = EndlessOrigin::start(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\n\r\n",
        page_linking(&target, "Endless").into_bytes(),
        filler.repeat(1_000).into_bytes(),
        CAP,
    )
    .await;
    let bomb = EndlessOrigin::start(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Encoding: gzip\r\nConnection: close\r\n\r\n",
        gzip_start(format!("{}<p>", page_linking(&target, "Bomb")).as_bytes()),
        gzip_repeat_block(4_096),
        CAP,
    )
    .await;
    let (endless_addr, bomb_addr) = (endless.addr.to_string(), bomb.addr.to_string());
    let server = TestServer::start_with(|c| {
        c.fetch
            .resolve
            .insert("endless.example.org".to_owned(), endless_addr);
        c.fetch
            .resolve
            .insert("bomb.example.org".to_owned(), bomb_addr);
    })
    .await;
    let max_bytes = usize::try_from(linkback::config::DEFAULT_FETCH_MAX_BYTES).expect("usize");
    let target = server.seed.target.clone();

    let head = page_linking(&target, "Twenty");
    let mut big = head.clone().into_bytes();
    big.extend(filler.bytes().cycle().take(TWENTY_MB - big.len()));
    server.origin.put(
        "http://blog.example.net/twenty-mb/",
        OriginPage::new("text/html; charset=utf-8", big),
    );
    let mut late = filler
        .bytes()
        .cycle()
        .take(TWENTY_MB - head.len())
        .collect::<Vec<u8>>();
    late.extend(head.bytes());
    server.origin.put(
        "http://blog.example.net/twenty-mb-late-link/",
        OriginPage::new("text/html; charset=utf-8", late),
    );

    let (twenty, twenty_kib) = peak_growth(async {
        let started = Instant::now();
        let answer = server
            .ping("http://blog.example.net/twenty-mb/", &target)
            .await;
        (answer, started.elapsed())
    })
    .await;
    twenty.0.expect("a 20 MB page linking at its start");
    let late_link = server
        .ping("http://blog.example.net/twenty-mb-late-link/", &target)
        .await
        .expect_err("the link is past max_bytes");
    assert_eq!(late_link.code, 17, "{}", late_link.message);

    let (endless_answer, endless_kib) =
        peak_growth(server.ping("http://endless.example.org/post/", &target)).await;
    endless_answer.expect("an endless page linking at its start");
    let (bomb_answer, bomb_kib) =
        peak_growth(server.ping("http://bomb.example.org/post/", &target)).await;
    bomb_answer.expect("a gzip bomb linking at its start");

    // What the origins got out before we hung up: our max_bytes plus what loopback socket
    // buffers hold, nowhere near the gigabyte they would have sent.
    let endless_sent = endless.written.load(Ordering::SeqCst);
    let bomb_sent = bomb.written.load(Ordering::SeqCst);
    assert!(
        endless_sent < 64 << 20,
        "endless page: {endless_sent} bytes sent"
    );
    assert!(bomb_sent < 64 << 20, "gzip bomb: {bomb_sent} bytes sent");
    let bomb_inflated_per_byte = 258 * 4_096 / gzip_repeat_block(4_096).len();
    let (rss, hwm) = memory_kib();
    println!(
        "memory: 20 MB page +{twenty_kib} KiB peak RSS ({:?}); endless page +{endless_kib} KiB \
         ({endless_sent} bytes sent before hang-up); gzip bomb (1:{bomb_inflated_per_byte}) \
         +{bomb_kib} KiB ({bomb_sent} compressed bytes sent); max_bytes {max_bytes}; \
         now VmRSS {rss} KiB, VmHWM {hwm} KiB",
        twenty.1
    );
    // Generous: a service that read these pages whole would need gigabytes, not this.
    for (name, kib) in [
        ("endless page", endless_kib),
        ("gzip bomb", bomb_kib),
        ("20 MB page", twenty_kib),
    ] {
        assert!(kib < 256 * 1024, "{name}: +{kib} KiB resident");
    }
    assert_still_serving(&server, "huge-pages").await;
    server.stop().await;
}

/// An endless chain of redirects (each hop a new URL, so only the hop limit stops it), a loop
/// between two hosts, and binary content types (application/octet-stream, video/mp4 announced
/// at 20 MB, image/png served as the final hop of a redirect): fault 16, each quickly, and the
/// chain is followed at most `max_redirects` times.
#[tokio::test]
async fn endless_redirects_and_binary_types_get_fault_16() {
    let server = TestServer::start().await;
    let target = server.seed.target.clone();
    for hop in 0..100 {
        server.origin.put(
            &format!("http://blog.example.net/hop/{hop}/"),
            OriginPage::html("")
                .with_status(302)
                .with_header("Location", &format!("/hop/{}/", hop + 1)),
        );
    }
    server.origin.put(
        "http://fr.example.org/ping/",
        OriginPage::html("")
            .with_status(307)
            .with_header("Location", "http://it.example.org/pong/"),
    );
    server.origin.put(
        "http://it.example.org/pong/",
        OriginPage::html("")
            .with_status(301)
            .with_header("Location", "http://fr.example.org/ping/"),
    );
    server.origin.put(
        "http://blog.example.net/octets/",
        OriginPage::new(
            "application/octet-stream",
            page_linking(&target, "Octets").into_bytes(),
        ),
    );
    server.origin.put(
        "http://blog.example.net/video/",
        OriginPage::new("video/mp4", vec![0_u8; 20 * 1024 * 1024]),
    );
    server.origin.put(
        "http://blog.example.net/to-image/",
        OriginPage::html("")
            .with_status(303)
            .with_header("Location", "/image.png"),
    );
    server.origin.put(
        "http://blog.example.net/image.png",
        OriginPage::new("image/png", b"\x89PNG\r\n\x1a\n".to_vec()),
    );
    for source in [
        "http://blog.example.net/hop/0/",
        "http://fr.example.org/ping/",
        "http://blog.example.net/octets/",
        "http://blog.example.net/video/",
        "http://blog.example.net/to-image/",
    ] {
        let started = Instant::now();
        let fault = server.ping(source, &target).await.expect_err(source);
        assert_eq!(fault.code, 16, "{source}: {}", fault.message);
        assert!(!fault.message.is_empty());
        let took = started.elapsed();
        assert!(took < Duration::from_secs(3), "{source} took {took:?}");
    }
    let max_redirects = linkback::config::DEFAULT_FETCH_MAX_REDIRECTS as usize;
    let hops = (0..100)
        .filter(|hop| {
            server
                .origin
                .hits_for(&format!("http://blog.example.net/hop/{hop}/"))
                > 0
        })
        .count();
    assert!(
        hops <= max_redirects + 1,
        "{hops} hops followed, max_redirects is {max_redirects}"
    );
    assert!(server.listing(&target).await.is_empty());
    assert_still_serving(&server, "redirects").await;
    server.stop().await;
}
