//! Placeholder: backup and restore of the whole database (hardening issue).
