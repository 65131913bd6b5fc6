//! Linkback receives pingbacks for one or many sites, verifies that the linking page really
//! links to the article, stores the mention durably in sled, and serves each article's approved
//! mentions.
//!
//! # Layout
//!
//! - [`cli`], [`config`], [`telemetry`]: the command line, the TOML configuration with its
//!   documented limits, and logging.
//! - [`server`]: `serve(listener, state, shutdown)`, graceful shutdown, queue resumption.
//! - [`state`]: the components every request reaches, built once.
//! - [`routes`]: the URL table and every HTTP layer; handlers are thin (decode → receive →
//!   encode).
//! - [`receive`]: the one use case: announcement → cheap checks → fetch → extract → store.
//! - [`metrics`]: the counters, histogram and gauges of `GET /metrics` (Prometheus text).
//! - [`limits`]: rate limits per sender, source host and article, before any storage or fetch.
//! - [`moderation`] (pure): block/mute/allow rules, the spam signals, the learned filter and
//!   the verdict they add up to ([`moderation::assess`]).
//! - [`fetch`]: the only outbound HTTP, behind the SSRF guard ([`fetch::guard`], pure) and with
//!   charset decoding ([`fetch::charset`], pure).
//! - [`extract`] (pure): finds the link in the source HTML, its title and excerpt.
//! - [`xmlrpc`] (pure): the XML-RPC codec. [`protocol`] (pure): what each protocol decodes into
//!   and how a refusal maps back to its wire answer.
//! - [`canonical`] (pure): URL identity; [`alias`] (pure): a site's equivalent spellings of
//!   one article. [`model`]: plain data.
//! - [`store`]: sled, the only module that names it; keys and record format are pure.
//! - [`origin`], [`demo`]: a loopback origin for the demo and the tests, and `linkback demo`.

pub mod alias;
pub mod cache;
pub mod canonical;
pub mod cli;
pub mod config;
pub mod demo;
pub mod extract;
pub mod fetch;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod moderation;
pub mod origin;
pub mod protocol;
pub mod receive;
pub mod routes;
pub mod server;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod xmlrpc;
