//! What sled 0.34 itself needs on disk per entry, without linkback: the evidence behind the
//! scale bench's "bytes on disk per mention" and the storage decision it calls for.
//!
//!     cargo bench --bench sled_overhead                       # 200,000 entries per layout
//!     SLED_ENTRIES=1000000 cargo bench --bench sled_overhead
//!
//! Each layout writes `SLED_ENTRIES` entries into a fresh database in a temp dir (64 MiB cache,
//! as the service opens it), flushes, and divides `size_on_disk` by the entries. Logical bytes
//! are the keys and values written. The layouts are what a mention is made of:
//!
//! - a record: a 375-byte value under an 8-byte big-endian id, ids ascending (the `mentions`
//!   tree), written once, and twice as the pipeline does (a two-thirds record at the
//!   reservation, then the whole one with the verdict);
//! - an index entry: an empty value under a key of 16 bytes (an article id and a mention id) or
//!   of 66 bytes (a canonical article URL, `0x00`, a mention id), articles in random order over
//!   10,000 (the by-article indexes).
//!
//! Exit status 0 always: this reports, it judges nothing.

mod common;

use common::env_number;

use std::time::Instant;

/// Entries per layout unless `SLED_ENTRIES` says otherwise.
const DEFAULT_ENTRIES: u64 = 200_000;
/// Articles the index entries are spread over, as in the scale bench.
const ARTICLES: u64 = 10_000;
/// The size of one stored record (the scale bench's "one record as stored", with its key).
const RECORD_BYTES: usize = 375;
/// sled's page cache, as the service opens the store.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// How the entries of one run are made.
#[derive(Clone, Copy)]
enum Layout {
    /// Records under ascending ids, written once, or twice (shorter first) as the pipeline.
    Records { writes: usize },
    /// Empty values under random-article keys of this length: 16 (an article id) or more (a
    /// URL).
    Index { key_bytes: usize },
}

fn main() {
    let entries = env_number("SLED_ENTRIES", DEFAULT_ENTRIES);
    println!("sled_overhead: sled 0.34, {entries} entries per layout, {ARTICLES} articles\n");
    println!(
        "  {:<44} {:>12} {:>14} {:>10} {:>8}",
        "layout", "logical B", "on disk B", "per entry", "ratio"
    );
    let layouts = [
        (
            "record, 375 B value, written once",
            Layout::Records { writes: 1 },
        ),
        (
            "record, written twice (reserve, finish)",
            Layout::Records { writes: 2 },
        ),
        (
            "index entry, 16 B key (article id + id)",
            Layout::Index { key_bytes: 16 },
        ),
        (
            "index entry, 66 B key (article URL + id)",
            Layout::Index { key_bytes: 66 },
        ),
    ];
    for (name, layout) in layouts {
        let (logical, on_disk, secs) = run(layout, entries);
        println!(
            "  {name:<44} {logical:>12} {on_disk:>14} {:>10} {:>8.2}   ({secs:.1} s)",
            on_disk / entries.max(1),
            on_disk as f64 / logical.max(1) as f64,
        );
    }
}

/// Writes `entries` entries of `layout` into a fresh database: (logical bytes of the final
/// contents, bytes on disk after a flush, seconds).
fn run(layout: Layout, entries: u64) -> (u64, u64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(CACHE_BYTES)
        .open()
        .expect("open sled");
    let tree = db.open_tree("entries").expect("tree");
    let started = Instant::now();
    // xorshift: the same "random" articles every run, without a crate.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut logical = 0u64;
    for id in 0..entries {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        match layout {
            Layout::Records { writes } => {
                let mut value = vec![b'r'; RECORD_BYTES - 8];
                value[..8].copy_from_slice(&state.to_le_bytes());
                // As the pipeline: the reservation's record has no title or excerpt yet.
                if writes > 1 {
                    tree.insert(id.to_be_bytes(), &value[..value.len() * 2 / 3])
                        .expect("insert");
                }
                tree.insert(id.to_be_bytes(), value.as_slice())
                    .expect("insert");
                logical += RECORD_BYTES as u64;
            }
            Layout::Index { key_bytes } => {
                let article = state % ARTICLES;
                let mut key = if key_bytes == 16 {
                    article.to_be_bytes().to_vec()
                } else {
                    // A canonical article URL, padded to the length, and its separator.
                    let mut url =
                        format!("https://blog.example/2026/11/article-{article:05}/").into_bytes();
                    url.resize(key_bytes - 9, b'x');
                    url.push(0);
                    url
                };
                key.extend_from_slice(&id.to_be_bytes());
                logical += key.len() as u64;
                tree.insert(key, &[]).expect("insert");
            }
        }
    }
    db.flush().expect("flush");
    let secs = started.elapsed().as_secs_f64();
    let on_disk = db.size_on_disk().expect("size on disk");
    (logical, on_disk, secs)
}
