//! Placeholder: filled by the hardening work of the hardening issue.
