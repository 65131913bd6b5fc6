//! Placeholder: hostile input tests (hardening issue).
