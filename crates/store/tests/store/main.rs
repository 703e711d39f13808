//! The store against real SQLite files in temporary directories, with a
//! manual clock: users and sessions, enrollments and the outbox, the audit
//! chain, retention and freeze rules.
#![allow(clippy::unwrap_used, clippy::expect_used)] // shared test functions live outside #[test] fns

mod audit;
mod common;
mod migrations;
mod outbox;
mod retention;
mod users;
