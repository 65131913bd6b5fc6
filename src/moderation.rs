//! Spam judgement: named, weighted signals about one announcement, and the learned filter that
//! is one of them. Pure: the pipeline gathers the inputs (the page, the sender, the store's
//! history) and records the signals with the mention, so a moderator sees why.
//!
//! [`assess`] is where the signals meet: the pipeline and the spam benchmark both judge through
//! it. [`rules`] are the moderators' block, mute and allow lists, decided before any signal.

pub mod assess;
pub mod classifier;
pub mod fan_out;
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
