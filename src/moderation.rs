//! Spam judgement: named, weighted signals about one announcement, and the learned filter that
//! is one of them. Pure: the pipeline gathers the inputs (the page, the sender, the store's
//! history) and records the signals with the mention, so a moderator sees why.
//!
//! Work in progress for the moderation issue: the signals and the classifier exist and are
//! tested on the labelled corpus in `tests/fixtures/spam/`; the pipeline does not call them yet.

pub mod classifier;
pub mod heuristics;
pub mod rules;

use serde::{Deserialize, Serialize};

/// One piece of evidence for or against spam. Positive weights point to spam.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// A stable name, e.g. `link_farm`, `hidden_link`, `spam_words`, `classifier`.
    pub name: String,
    /// How much it counts; the verdict compares the sum with a threshold.
    pub weight: f64,
    /// What was seen, for the moderator (never a page body).
    pub detail: String,
}
