//! Helpers for berth integration tests.
