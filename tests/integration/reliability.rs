//! Placeholder: filled by the reliability work of the hardening issue.
