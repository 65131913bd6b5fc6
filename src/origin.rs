//! A small static HTTP origin that serves pages from memory, keyed by host and path, with their
//! status, content type and headers. It plays the blogs that link to us in `linkback demo` and in
//! the tests; the service itself never uses it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// One page the origin serves.
#[derive(Debug, Clone)]
pub struct OriginPage {
    /// HTTP status.
    pub status: u16,
    /// Content-Type header.
    pub content_type: String,
    /// Further headers (e.g. `Location`, `X-Pingback`).
    pub headers: Vec<(String, String)>,
    /// The body bytes, served as they are.
    pub body: Vec<u8>,
    /// How long to wait before answering (a slow blog).
    pub delay: std::time::Duration,
}

impl OriginPage {
    /// A 200 page with this content type.
    pub fn new(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: 200,
            content_type: content_type.to_owned(),
            headers: Vec::new(),
            body: body.into(),
            delay: std::time::Duration::ZERO,
        }
    }

    /// A UTF-8 HTML page.
    pub fn html(body: &str) -> Self {
        Self::new("text/html; charset=utf-8", body)
    }

    /// The same page with another status.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The same page, answered only after `delay`.
    #[must_use]
    pub fn with_delay(mut self, delay: std::time::Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The same page with one more header.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

type Pages = Arc<RwLock<HashMap<(String, String), OriginPage>>>;

#[derive(Debug, Clone)]
struct OriginState {
    pages: Pages,
    hits: Arc<AtomicUsize>,
    counts: Arc<Mutex<Counts>>,
}

/// Requests per page and requests in flight, overall and per host, with their high-water
/// marks: what a test needs to show the service's fetches are bounded.
#[derive(Debug, Default)]
struct Counts {
    by_page: HashMap<(String, String), usize>,
    in_flight: usize,
    max_in_flight: usize,
    host_in_flight: HashMap<String, usize>,
    host_max_in_flight: HashMap<String, usize>,
}

/// Counts a request as in flight until it is answered or abandoned.
struct InFlight {
    counts: Arc<Mutex<Counts>>,
    host: String,
}

impl InFlight {
    fn start(counts: &Arc<Mutex<Counts>>, host: &str, path: &str) -> Self {
        let mut c = counts.lock().unwrap_or_else(PoisonError::into_inner);
        *c.by_page
            .entry((host.to_owned(), path.to_owned()))
            .or_default() += 1;
        c.in_flight += 1;
        c.max_in_flight = c.max_in_flight.max(c.in_flight);
        let now = {
            let n = c.host_in_flight.entry(host.to_owned()).or_default();
            *n += 1;
            *n
        };
        let max = c.host_max_in_flight.entry(host.to_owned()).or_default();
        *max = (*max).max(now);
        Self {
            counts: Arc::clone(counts),
            host: host.to_owned(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        c.in_flight -= 1;
        if let Some(n) = c.host_in_flight.get_mut(&self.host) {
            *n -= 1;
        }
    }
}

/// A running origin on 127.0.0.1; it stops when dropped.
#[derive(Debug)]
pub struct Origin {
    addr: SocketAddr,
    state: OriginState,
    _stop: oneshot::Sender<()>,
}

impl Origin {
    /// Starts an origin on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = OriginState {
            pages: Arc::default(),
            hits: Arc::default(),
            counts: Arc::default(),
        };
        let app = Router::new().fallback(serve_page).with_state(state.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            state,
            _stop: stop,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `page` at `url`; the host and path of the URL select it (the port is ignored, so
    /// `fetch.resolve` can point any host name here).
    pub fn put(&self, url: &str, page: OriginPage) {
        let Some(key) = page_key(url) else {
            return;
        };
        self.state
            .pages
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, page);
    }

    /// Requests served so far, found or not.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// Requests for `url` (its host and path, as in [`put`](Self::put)) so far, found or not.
    pub fn hits_for(&self, url: &str) -> usize {
        let Some(key) = page_key(url) else {
            return 0;
        };
        self.counts().by_page.get(&key).copied().unwrap_or(0)
    }

    /// The most requests ever in flight at once, all hosts together.
    pub fn max_in_flight(&self) -> usize {
        self.counts().max_in_flight
    }

    /// The most requests ever in flight at once for `host`.
    pub fn max_in_flight_for(&self, host: &str) -> usize {
        self.counts()
            .host_max_in_flight
            .get(host)
            .copied()
            .unwrap_or(0)
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.state
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The (host, path and query) a URL's page is kept under.
fn page_key(url: &str) -> Option<(String, String)> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let mut path = parsed.path().to_owned();
    if let Some(query) = parsed.query() {
        path = format!("{path}?{query}");
    }
    Some((host, path))
}

async fn serve_page(State(state): State<OriginState>, request: Request) -> Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map_or(h, |(name, _)| name).to_owned())
        .unwrap_or_default();
    let path = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let _in_flight = InFlight::start(&state.counts, &host, &path);
    let page = state
        .pages
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&(host, path))
        .cloned();
    let Some(page) = page else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    if !page.delay.is_zero() {
        tokio::time::sleep(page.delay).await;
    }
    let mut response = Response::new(Body::from(page.body));
    *response.status_mut() = StatusCode::from_u16(page.status).unwrap_or(StatusCode::OK);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&page.content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    for (name, value) in page.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(&value)) {
            headers.append(name, value);
        }
    }
    response
}
