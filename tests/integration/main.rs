//! One integration test binary (one link step on a 2-core CI), driving the real service: a real
//! HTTP server on 127.0.0.1, a real sled database in a temp dir, a real loopback origin serving
//! the fixtures, and the real binary where the process matters (signals, crashes, exit codes).

mod support;

mod admin;
mod admin_page;
mod backup;
mod cli;
mod hardening;
mod hostile;
mod listing;
mod metrics;
mod pingback;
mod queue;
mod reliability;
mod serving;
mod spam;
mod trackback;
mod webmention;
