//! Placeholder: filled by the backup work of the hardening issue.
