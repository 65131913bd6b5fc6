//! Backup and restore: the whole database as JSON Lines, taken while the service runs.
//!
//! The format, one JSON object per line:
//!
//! ```text
//! {"linkback_backup":1,"db_format":4,"created_at":"2026-…Z","next_id":1234}
//! {"tree":"audit"}
//! {"k":"<base64 key>","v":"<base64 value>"}
//! …
//! {"tree":"mentions"}
//! …
//! {"end":{"trees":16,"entries":5321}}
//! ```
//!
//! Every tree sled holds is written, in name order, keys and values as standard base64. The
//! header says what wrote it; `next_id` is above every id sled had handed out, so a restored
//! database never gives out an id twice. The end line makes a cut-off file (an interrupted
//! download) detectable: without it, or with other counts, the backup is refused.
//!
//! **What a backup taken under load guarantees.** sled 0.34 has no snapshot: each tree is read
//! by its own iterator, so a mention stored during the export may be in it or not, and its
//! record may be seen from a moment other than its queue entry's. Every value is one that was
//! committed. Restore therefore writes the primary trees as they are and rebuilds what derives
//! from the records: the unique (target, source) index, the by-article and by-site indexes and
//! the listed-order indexes (from each record's own listed position, so the public order is
//! the one the backup saw), the approved hosts, and the queue (a `queued` mention without an
//! entry gets one; an entry without its mention goes). The restored database is consistent
//! whatever was written during the export. What can lag is what is not derived: an audit entry
//! or a filter update from the last instant before the export may be missing, or present
//! without its effect on the record.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::{
    DB_FORMAT, DEFAULT_CACHE_BYTES, Job, LOCK_RETRIES, LOCK_RETRY_PAUSE, SEQ_KEY, Store,
    StoreError, decode_record, is_lock_error, keys, source_host,
};
use crate::model::{Status, now_ms, rfc3339};

/// The version of the backup format this build writes and reads.
const BACKUP_FORMAT: u32 = 1;

/// Trees that restore rebuilds from the records instead of copying (see the module comment).
const DERIVED_TREES: [&str; 5] = [
    "pairs",
    "by_target",
    "by_site",
    "listed_by_target",
    "listed_by_site",
];

/// Why a backup could not be written, read or restored. Messages say what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// Reading or writing the backup itself failed.
    #[error("cannot read or write the backup: {0}")]
    Io(#[from] std::io::Error),
    /// The first line is not a Linkback backup header, or one this build cannot restore.
    #[error("not a backup this build can restore: {0}")]
    Header(String),
    /// A line is not what the format allows.
    #[error("line {line} of the backup is malformed: {message}")]
    Line {
        /// 1-based line number.
        line: u64,
        /// What is wrong with it.
        message: String,
    },
    /// The file ends before its end line: an interrupted download or a cut copy.
    #[error(
        "the backup is truncated: it ends after line {lines} without its end line (an interrupted download or copy); take a new backup"
    )]
    Truncated {
        /// Lines read.
        lines: u64,
    },
    /// The target of a restore already holds files.
    #[error(
        "{} is not empty; restore into a new or empty directory (a restore never overwrites a database)",
        .0.display()
    )]
    NotEmpty(PathBuf),
    /// The database failed while exporting, or the restored one does not read back.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sled::Error> for BackupError {
    fn from(error: sled::Error) -> Self {
        Self::Store(StoreError::Sled(error))
    }
}

/// What a backup holds (after [`Store::export`], [`Store::check_backup`] or [`Store::import`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupSummary {
    /// Trees in the backup.
    pub trees: u64,
    /// Key-value entries in the backup, all trees.
    pub entries: u64,
    /// Bytes of the backup.
    pub bytes: u64,
    /// Mention records.
    pub mentions: u64,
    /// Moderation rules.
    pub rules: u64,
    /// Audit log entries.
    pub audit: u64,
    /// Mentions by status (filled by [`Store::import`], which decodes every record).
    pub by_status: BTreeMap<&'static str, u64>,
}

impl fmt::Display for BackupSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} mentions", self.mentions)?;
        if !self.by_status.is_empty() {
            let statuses: Vec<String> = self
                .by_status
                .iter()
                .map(|(status, n)| format!("{n} {status}"))
                .collect();
            write!(f, " ({})", statuses.join(", "))?;
        }
        write!(
            f,
            ", {} rules, {} audit entries; {} entries in {} trees, {} bytes",
            self.rules, self.audit, self.entries, self.trees, self.bytes
        )
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    linkback_backup: u32,
    db_format: u32,
    created_at: String,
    next_id: u64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct End {
    trees: u64,
    entries: u64,
}

/// Any line after the header: a tree, an entry of it, or the end.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tree: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    k: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    v: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<End>,
}

/// A parsed line of the body.
enum Item {
    Tree(String),
    Entry(Vec<u8>, Vec<u8>),
}

/// Counts the bytes that pass through.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn write_line(out: &mut impl Write, value: &impl Serialize) -> Result<(), BackupError> {
    serde_json::to_writer(&mut *out, value).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

impl Store {
    /// The media type of a backup (newline-delimited JSON).
    pub const BACKUP_CONTENT_TYPE: &str = "application/x-ndjson";

    /// Writes every tree of the database to `out` in the backup format, while the service
    /// keeps running (see the module comment for what that guarantees). Reads one tree at a
    /// time through sled's iterators, so memory stays flat whatever the size.
    pub fn export(&self, out: impl Write) -> Result<BackupSummary, BackupError> {
        let db = &self.inner.db;
        let mut out = Counting {
            inner: std::io::BufWriter::with_capacity(64 * 1024, out),
            bytes: 0,
        };
        // Ids are monotonic: one generated now is above every id any record or entry holds.
        let next_id = db.generate_id()?;
        write_line(
            &mut out,
            &Header {
                linkback_backup: BACKUP_FORMAT,
                db_format: DB_FORMAT,
                created_at: rfc3339(now_ms()),
                next_id,
            },
        )?;
        let mut summary = BackupSummary::default();
        let mut names = db.tree_names();
        names.sort();
        for name in names {
            let Ok(text) = std::str::from_utf8(&name) else {
                return Err(BackupError::Store(StoreError::Sled(
                    sled::Error::Unsupported(format!("a tree name is not UTF-8: {name:?}")),
                )));
            };
            let tree = db.open_tree(&name)?;
            write_line(
                &mut out,
                &Line {
                    tree: Some(text.to_owned()),
                    ..Line::default()
                },
            )?;
            summary.trees += 1;
            let mut count = 0u64;
            for entry in tree.iter() {
                let (key, value) = entry?;
                write_line(
                    &mut out,
                    &Line {
                        k: Some(BASE64.encode(&key)),
                        v: Some(BASE64.encode(&value)),
                        ..Line::default()
                    },
                )?;
                count += 1;
            }
            summary.entries += count;
            match text {
                "mentions" => summary.mentions = count,
                "rules" => summary.rules = count,
                "audit" => summary.audit = count,
                _ => {}
            }
        }
        write_line(
            &mut out,
            &Line {
                end: Some(End {
                    trees: summary.trees,
                    entries: summary.entries,
                }),
                ..Line::default()
            },
        )?;
        out.flush()?;
        summary.bytes = out.bytes;
        Ok(summary)
    }

    /// Reads a whole backup and checks its form (header, every line, the end line and its
    /// counts) without writing anything: what the CLI runs on a download before keeping it.
    pub fn check_backup(input: impl BufRead) -> Result<BackupSummary, BackupError> {
        read_backup(input, |_| Ok(())).map(|(summary, _)| summary)
    }

    /// Restores a backup into `dir`, which must not exist or be empty: writes every entry,
    /// rebuilds the derived indexes, moves the id generator past the backup's ids, flushes, then
    /// opens the result with [`Store::open`] and decodes every mention record. On failure the
    /// directory is emptied again.
    pub fn import(dir: &Path, input: impl BufRead) -> Result<BackupSummary, BackupError> {
        let existed = dir.exists();
        if existed && std::fs::read_dir(dir)?.next().is_some() {
            return Err(BackupError::NotEmpty(dir.to_owned()));
        }
        let result = import_into(dir, input);
        if result.is_err() {
            // Everything in `dir` is ours: it was empty or absent.
            if existed {
                if let Ok(entries) = std::fs::read_dir(dir) {
                    for entry in entries.flatten() {
                        let path = entry.path();
                        let _ = if path.is_dir() {
                            std::fs::remove_dir_all(&path)
                        } else {
                            std::fs::remove_file(&path)
                        };
                    }
                }
            } else {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
        result
    }
}

fn import_into(dir: &Path, input: impl BufRead) -> Result<BackupSummary, BackupError> {
    let db = open_raw(dir, None)?;
    let (mut summary, next_id) = {
        // Every tree handle keeps the database (and its lock) alive: this one goes with the
        // block.
        let mut current: Option<sled::Tree> = None;
        read_backup(input, |item| {
            match item {
                Item::Tree(name) => {
                    current = if DERIVED_TREES.contains(&name.as_str()) {
                        None
                    } else {
                        Some(db.open_tree(name.as_bytes())?)
                    };
                }
                Item::Entry(key, value) => {
                    if let Some(tree) = &current {
                        tree.insert(key, value)?;
                    }
                }
            }
            Ok(())
        })?
    };
    rebuild_derived(&db)?;
    db.flush()?;
    drop(db);
    advance_ids(dir, next_id)?;

    // Read back through the store itself: every mention record must decode.
    let store = Store::open(dir, DEFAULT_CACHE_BYTES)?;
    let mut by_status = BTreeMap::new();
    for entry in store.inner.mentions.iter() {
        let (key, bytes) = entry?;
        let id = keys::id_from_suffix(&key).unwrap_or_default();
        let mention = decode_record(id, &bytes)?;
        *by_status.entry(mention.status.as_str()).or_insert(0) += 1;
    }
    summary.by_status = by_status;
    let issued = store.inner.db.generate_id()?;
    if issued < next_id {
        return Err(BackupError::Store(StoreError::Damaged {
            path: dir.to_owned(),
            message: format!("the id generator restarted at {issued}, below {next_id}"),
        }));
    }
    store.inner.db.flush()?;
    Ok(summary)
}

/// Parses a backup, handing each tree and entry to `sink`; returns the summary and the
/// header's `next_id`.
fn read_backup(
    input: impl BufRead,
    mut sink: impl FnMut(Item) -> Result<(), BackupError>,
) -> Result<(BackupSummary, u64), BackupError> {
    let mut lines = input.split(b'\n');
    let mut summary = BackupSummary::default();
    let Some(first) = lines.next() else {
        return Err(BackupError::Header("the file is empty".to_owned()));
    };
    let first = first?;
    summary.bytes += first.len() as u64 + 1;
    let header: Header = serde_json::from_slice(&first).map_err(|_| {
        BackupError::Header(
            "the first line is not a Linkback backup header (`{\"linkback_backup\": 1, …}`)"
                .to_owned(),
        )
    })?;
    if header.linkback_backup != BACKUP_FORMAT {
        return Err(BackupError::Header(format!(
            "backup format {} (this build reads format {BACKUP_FORMAT})",
            header.linkback_backup
        )));
    }
    if header.db_format != DB_FORMAT {
        return Err(BackupError::Header(format!(
            "taken from a database in format {}, this build restores format {DB_FORMAT}; \
             restore it with the release that took it, then start this one, which migrates",
            header.db_format
        )));
    }
    let mut number = 1u64;
    let mut tree: Option<String> = None;
    let mut end = None;
    for line in lines {
        let line = line?;
        number += 1;
        summary.bytes += line.len() as u64 + 1;
        if line.is_empty() {
            continue;
        }
        let malformed = |message: String| BackupError::Line {
            line: number,
            message,
        };
        if end.is_some() {
            return Err(malformed("text after the end line".to_owned()));
        }
        let parsed: Line = serde_json::from_slice(&line).map_err(|e| malformed(e.to_string()))?;
        match parsed {
            Line {
                tree: Some(name),
                k: None,
                v: None,
                end: None,
            } => {
                summary.trees += 1;
                sink(Item::Tree(name.clone()))?;
                tree = Some(name);
            }
            Line {
                tree: None,
                k: Some(k),
                v: Some(v),
                end: None,
            } => {
                let Some(name) = &tree else {
                    return Err(malformed("an entry before any tree".to_owned()));
                };
                let key = BASE64
                    .decode(k)
                    .map_err(|e| malformed(format!("key: {e}")))?;
                let value = BASE64
                    .decode(v)
                    .map_err(|e| malformed(format!("value: {e}")))?;
                summary.entries += 1;
                match name.as_str() {
                    "mentions" => summary.mentions += 1,
                    "rules" => summary.rules += 1,
                    "audit" => summary.audit += 1,
                    _ => {}
                }
                sink(Item::Entry(key, value))?;
            }
            Line {
                tree: None,
                k: None,
                v: None,
                end: Some(found),
            } => {
                let expected = End {
                    trees: summary.trees,
                    entries: summary.entries,
                };
                if found != expected {
                    return Err(malformed(format!(
                        "the end line counts {} trees and {} entries, the file holds {} and {}",
                        found.trees, found.entries, expected.trees, expected.entries
                    )));
                }
                end = Some(found);
            }
            _ => {
                return Err(malformed(
                    "expected a tree, an entry (k and v) or the end line".to_owned(),
                ));
            }
        }
    }
    if end.is_none() {
        return Err(BackupError::Truncated { lines: number });
    }
    Ok((summary, header.next_id))
}

/// Rebuilds the indexes that derive from the records, the approved hosts and the queue (see
/// the module comment).
fn rebuild_derived(db: &sled::Db) -> Result<(), BackupError> {
    let tree = |name: &str| db.open_tree(name);
    let mentions = tree("mentions")?;
    let (pairs, by_target, by_site) = (tree("pairs")?, tree("by_target")?, tree("by_site")?);
    let (listed_by_target, listed_by_site) = (tree("listed_by_target")?, tree("listed_by_site")?);
    let (queue, changes, approved_hosts) =
        (tree("queue")?, tree("changes")?, tree("approved_hosts")?);
    for derived in [
        &pairs,
        &by_target,
        &by_site,
        &listed_by_target,
        &listed_by_site,
    ] {
        derived.clear()?;
    }
    let mut last_seq = 0u64;
    for entry in mentions.iter() {
        let (key, bytes) = entry?;
        let id = keys::id_from_suffix(&key).ok_or_else(|| super::damaged_record(0))?;
        let mention = decode_record(id, &bytes)?;
        pairs.insert(
            keys::pair_key(&mention.target_key, &mention.source_key),
            &key,
        )?;
        by_target.insert(keys::scope_key(&mention.target_key, id), &[])?;
        by_site.insert(keys::scope_key(&mention.site, id), &[])?;
        if mention.status == Status::Approved {
            if let Some(seq) = mention.listed_seq {
                listed_by_target.insert(keys::scope_key(&mention.target_key, seq), &key)?;
                listed_by_site.insert(keys::scope_key(&mention.site, seq), &key)?;
                last_seq = last_seq.max(seq);
            }
            if let Some(host) = source_host(&mention) {
                approved_hosts.insert(keys::pair_key(&mention.site, &host), &[])?;
            }
        }
        if mention.status == Status::Queued && !queue.contains_key(&key)? {
            let job = Job {
                protocol: Some(mention.protocol),
                ..Job::default()
            };
            queue.insert(&key, serde_json::to_vec(&job).unwrap_or_default())?;
        }
    }
    for entry in queue.iter() {
        let (key, _) = entry?;
        if !mentions.contains_key(&key)? {
            queue.remove(&key)?;
        }
    }
    let stored_seq = changes
        .get(SEQ_KEY)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
        .map_or(0, u64::from_be_bytes);
    changes.insert(SEQ_KEY, &stored_seq.max(last_seq).to_be_bytes())?;
    Ok(())
}

/// Makes the id generator of the database in `dir` start above `next_id`.
///
/// sled keeps its id counter outside the trees, so a fresh database would hand out ids from 0
/// again and a new rule or audit entry would overwrite a restored one. sled persists the counter
/// every `idgen_persist_interval` ids and, when it reopens a database, resumes at the persisted
/// value plus twice the interval. Reopening once with an interval of half `next_id` (rounded up
/// to half a multiple of the normal interval) therefore resumes at `next_id` or above; one id
/// taken then persists that value, which the next opening (with the normal interval) resumes
/// above. sled asserts that a persisted value is a multiple of the interval it runs with, hence
/// the rounding.
fn advance_ids(dir: &Path, next_id: u64) -> Result<(), BackupError> {
    let normal = sled::Config::new().idgen_persist_interval;
    let persisted = next_id.div_ceil(normal).max(1) * normal;
    let db = open_raw(dir, Some(persisted / 2))?;
    db.generate_id()?;
    db.flush()?;
    Ok(())
}

/// Opens the raw database in `dir`, waiting briefly for the lock of a handle still closing.
fn open_raw(dir: &Path, idgen_interval: Option<u64>) -> Result<sled::Db, BackupError> {
    let mut config = sled::Config::new()
        .path(dir)
        .cache_capacity(DEFAULT_CACHE_BYTES);
    if let Some(interval) = idgen_interval {
        config = config.idgen_persist_interval(interval);
    }
    let mut attempt = 0;
    loop {
        match config.open() {
            Err(sled::Error::Io(io)) if is_lock_error(&io) && attempt < LOCK_RETRIES => {
                attempt += 1;
                std::thread::sleep(LOCK_RETRY_PAUSE);
            }
            Err(e) => {
                return Err(BackupError::Store(StoreError::Open {
                    path: dir.to_owned(),
                    message: e.to_string(),
                }));
            }
            Ok(db) => return Ok(db),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Mention, Protocol};
    use crate::moderation::rules::Rule;
    use crate::store::{AuditEntry, NewMention, PageRequest, Resend};

    fn ping(store: &Store, n: usize, status: Status) -> u64 {
        let source = format!("https://blog{n}.example/post/");
        let target = format!("https://ours.example/article-{}/", n % 2);
        let new = NewMention {
            site: "blog".to_owned(),
            protocol: Protocol::Pingback,
            source: source.clone(),
            target: target.clone(),
            source_key: source,
            target_key: target,
            sender_ip: None,
        };
        let id = store
            .reserve(&new, &Job::default(), Resend::Always)
            .expect("reserve")
            .id();
        if status != Status::Queued {
            store
                .finish(id, move |m: &mut Mention| {
                    m.status = status;
                    m.title = Some(format!("Post {n}"));
                    m.verified_at_ms = Some(now_ms());
                })
                .expect("finish");
        }
        id
    }

    /// A store with mentions of every status, a rule and an audit entry.
    fn populated() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), DEFAULT_CACHE_BYTES).expect("open");
        let statuses = [
            Status::Approved,
            Status::Pending,
            Status::Spam,
            Status::Rejected,
            Status::Queued,
            Status::Approved,
            Status::Deleted,
        ];
        for (n, status) in statuses.into_iter().enumerate() {
            ping(&store, n, status);
        }
        let rule: Rule = serde_json::from_value(serde_json::json!({
            "id": 0, "site": null, "kind": "domain", "value": "spam.example", "action": "block",
            "created_by": "admin", "created_at_ms": 0
        }))
        .expect("rule");
        store.add_rule(rule).expect("rule");
        store
            .append_audit(&AuditEntry {
                at_ms: now_ms(),
                actor: "admin".to_owned(),
                action: "set_status".to_owned(),
                mention_id: Some(1),
                rule_id: None,
                site: "blog".to_owned(),
                from: Some(Status::Pending),
                to: Some(Status::Approved),
            })
            .expect("audit");
        (dir, store)
    }

    fn export(store: &Store) -> Vec<u8> {
        let mut out = Vec::new();
        store.export(&mut out).expect("export");
        out
    }

    fn all(store: &Store) -> Vec<Mention> {
        store.list_all(None, 1000, |_| true).expect("list").mentions
    }

    #[test]
    fn a_backup_restores_every_tree_and_the_listing() {
        let (_dir, store) = populated();
        let backup = export(&store);
        let text = String::from_utf8(backup.clone()).expect("utf8");
        let header: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("header")).expect("json");
        assert_eq!(header["linkback_backup"], 1);
        assert_eq!(header["db_format"], DB_FORMAT);
        assert!(text.lines().last().expect("end").starts_with("{\"end\":"));

        let target = tempfile::tempdir().expect("tempdir");
        let summary = Store::import(target.path(), backup.as_slice()).expect("import");
        assert_eq!(summary.mentions, 7);
        assert_eq!(summary.rules, 1);
        assert_eq!(summary.audit, 1);
        assert_eq!(summary.by_status.get("approved"), Some(&2));
        assert_eq!(summary.bytes, backup.len() as u64);

        let restored = Store::open(target.path(), DEFAULT_CACHE_BYTES).expect("reopen");
        assert_eq!(all(&restored), all(&store));
        assert_eq!(
            restored.rules().expect("rules"),
            store.rules().expect("rules")
        );
        let audit = |s: &Store| s.list_audit(None, 100, |_| true).expect("audit").0;
        assert_eq!(audit(&restored), audit(&store));
        for article in [
            "https://ours.example/article-0/",
            "https://ours.example/article-1/",
        ] {
            let listed = |s: &Store| {
                s.list_listed_for_target(article, PageRequest::first(100), |_| true)
                    .expect("listed")
                    .mentions
            };
            assert_eq!(listed(&restored), listed(&store));
        }
        assert_eq!(
            restored.queued().expect("queue"),
            store.queued().expect("queue")
        );
        // The unique index came back: the same pair is found, not registered again.
        let first = &all(&store)[0];
        assert_eq!(
            restored
                .find_pair(&first.target_key, &first.source_key)
                .expect("pair")
                .map(|m| m.id),
            Some(first.id)
        );
        // Exporting the restored database gives the same entries again.
        let again = export(&restored);
        let body = |b: &[u8]| {
            String::from_utf8(b.to_vec())
                .expect("utf8")
                .lines()
                .skip(1)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(body(&again).len(), body(&backup).len());
    }

    #[test]
    fn ids_continue_above_the_restored_ones() {
        let (_dir, store) = populated();
        // Ids far above a fresh database's, as after restarts.
        for _ in 0..3 {
            store.inner.db.generate_id().expect("id");
        }
        let highest = all(&store).iter().map(|m| m.id).max().expect("some");
        let next_id = store.inner.db.generate_id().expect("id");
        let target = tempfile::tempdir().expect("tempdir");
        Store::import(target.path(), export(&store).as_slice()).expect("import");
        let restored = Store::open(target.path(), DEFAULT_CACHE_BYTES).expect("reopen");
        let rule: Rule = serde_json::from_value(serde_json::json!({
            "id": 0, "site": null, "kind": "word", "value": "casino", "action": "mute",
            "created_by": "admin", "created_at_ms": 0
        }))
        .expect("rule");
        let added = restored.add_rule(rule).expect("add");
        assert!(
            added.id > next_id && added.id > highest,
            "{} vs {next_id}",
            added.id
        );
        assert_eq!(
            restored.rules().expect("rules").len(),
            2,
            "nothing overwritten"
        );
        let id = ping(&restored, 99, Status::Pending);
        assert!(id > next_id);
        assert_eq!(restored.len(), 8);
    }

    #[test]
    fn restore_rebuilds_what_a_backup_under_load_can_miss() {
        let (_dir, store) = populated();
        // As if the export read the queue before a mention's reservation and the records
        // after it, and the pairs index before another mention.
        let queued = store.queued().expect("queue");
        assert_eq!(queued.len(), 1);
        let (id, _) = queued[0];
        store
            .inner
            .queue
            .remove(keys::mention_key(id))
            .expect("remove");
        store.inner.pairs.clear().expect("clear");
        store
            .inner
            .queue
            .insert(keys::mention_key(9_999), b"{}".as_slice())
            .expect("orphan");
        let target = tempfile::tempdir().expect("tempdir");
        Store::import(target.path(), export(&store).as_slice()).expect("import");
        let restored = Store::open(target.path(), DEFAULT_CACHE_BYTES).expect("reopen");
        let ids: Vec<u64> = restored
            .queued()
            .expect("queue")
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(ids, vec![id]);
        for mention in all(&store) {
            let found = restored
                .find_pair(&mention.target_key, &mention.source_key)
                .expect("pair");
            assert_eq!(found.map(|m| m.id), Some(mention.id));
        }
    }

    #[test]
    fn a_bad_header_is_refused() {
        let (_dir, store) = populated();
        let backup = String::from_utf8(export(&store)).expect("utf8");
        let (_, body) = backup.split_once('\n').expect("lines");
        let cases = [
            (String::new(), "empty"),
            (format!("{{\"hello\": 1}}\n{body}"), "not a Linkback backup"),
            (
                format!(
                    "{{\"linkback_backup\":2,\"db_format\":{DB_FORMAT},\"created_at\":\"x\",\"next_id\":1}}\n{body}"
                ),
                "backup format 2",
            ),
            (
                format!(
                    "{{\"linkback_backup\":1,\"db_format\":99,\"created_at\":\"x\",\"next_id\":1}}\n{body}"
                ),
                "format 99",
            ),
            (body.to_owned(), "not a Linkback backup"),
        ];
        for (text, expected) in cases {
            let target = tempfile::tempdir().expect("tempdir");
            let error = Store::import(target.path(), text.as_bytes()).expect_err(expected);
            assert!(matches!(error, BackupError::Header(_)), "{error}");
            assert!(error.to_string().contains(expected), "{error}");
            assert_eq!(std::fs::read_dir(target.path()).expect("dir").count(), 0);
        }
    }

    #[test]
    fn a_truncated_or_altered_backup_is_refused_and_leaves_nothing() {
        let (_dir, store) = populated();
        let backup = export(&store);
        let text = String::from_utf8(backup.clone()).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        let without_end = lines[..lines.len() - 1].join("\n") + "\n";
        let target = tempfile::tempdir().expect("tempdir");
        let error = Store::import(target.path(), without_end.as_bytes()).expect_err("cut");
        assert!(matches!(error, BackupError::Truncated { .. }), "{error}");
        assert!(error.to_string().contains("truncated"), "{error}");
        assert_eq!(std::fs::read_dir(target.path()).expect("dir").count(), 0);

        // Cut in the middle of a line.
        let half = &backup[..backup.len() / 2];
        let error = Store::check_backup(half).expect_err("half");
        assert!(
            matches!(
                error,
                BackupError::Line { .. } | BackupError::Truncated { .. }
            ),
            "{error}"
        );
        // A line dropped from the middle: the end line's counts disagree.
        let dropped = [&lines[..3], &lines[4..]].concat().join("\n");
        let error = Store::check_backup(dropped.as_bytes()).expect_err("dropped");
        assert!(error.to_string().contains("end line counts"), "{error}");
        // Bad base64.
        let garbled = text.replacen("\"k\":\"", "\"k\":\"!!", 1);
        let error = Store::check_backup(garbled.as_bytes()).expect_err("garbled");
        assert!(
            matches!(error, BackupError::Line { line: 4, .. }),
            "{error}"
        );

        let summary = Store::check_backup(backup.as_slice()).expect("whole");
        assert_eq!(summary.mentions, 7);
    }

    #[test]
    fn restore_refuses_a_directory_that_is_not_empty() {
        let (dir, store) = populated();
        let backup = export(&store);
        let error = Store::import(dir.path(), backup.as_slice()).expect_err("live db");
        assert!(matches!(error, BackupError::NotEmpty(_)), "{error}");
        assert!(error.to_string().contains("not empty"), "{error}");
        let absent = tempfile::tempdir().expect("tempdir");
        let fresh = absent.path().join("new");
        Store::import(&fresh, backup.as_slice()).expect("a missing directory is created");
    }
}
