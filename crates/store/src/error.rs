//! What can go wrong in the store, as one typed enum.
//!
//! Messages never contain passwords, hashes or personal data: they name ids,
//! roles and states only.

use std::path::PathBuf;

use enrollment::IllegalTransition;
use thiserror::Error;

use crate::clock::Timestamp;
use crate::ids::{EnrollmentId, PacketId, UserId};
use crate::outbox::OutboxState;
use crate::retention::FreezeReason;
use crate::users::Role;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {source}")]
    Open { path: PathBuf, source: sqlx::Error },
    #[error("cannot upgrade the database {path}: {source}")]
    Migrate {
        path: PathBuf,
        source: sqlx::migrate::MigrateError,
    },
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    /// A value read back from the file is not one this store writes: the
    /// file was damaged or edited.
    #[error("the database holds an invalid {column}: {problem}")]
    Corrupt {
        column: &'static str,
        problem: &'static str,
    },

    // Authentication. An unknown user name and a wrong password give the
    // same error on purpose, so guessing names learns nothing.
    #[error("unknown user name or wrong password")]
    InvalidCredentials,
    #[error("the account is locked until {until}")]
    AccountLocked { until: Timestamp },
    #[error("the account is disabled")]
    AccountDisabled,
    #[error("the session has expired")]
    SessionExpired,

    // User administration.
    #[error("users exist already; the first administrator is created only once")]
    AlreadyInitialised,
    #[error("a user name is 1 to 64 characters from a-z 0-9 . _ -")]
    InvalidUsername,
    #[error("the user name is taken")]
    UsernameTaken,
    #[error("a password needs at least {min} characters")]
    PasswordTooShort { min: usize },
    #[error("no user {0}")]
    UnknownUser(UserId),
    #[error("user {0} is disabled")]
    UserDisabled(UserId),
    #[error("the station must keep at least one enabled administrator")]
    LastAdministrator,
    #[error("cannot hash the password: {0}")]
    PasswordHashing(String),
    #[error("a background task failed: {0}")]
    Task(String),

    // Role rules.
    #[error("a {role} may not {action}")]
    NotPermitted { role: Role, action: &'static str },
    #[error("only the enrollment's own clerk may {action}")]
    NotTheClerk { action: &'static str },
    #[error("the clerk of an enrollment cannot approve it")]
    SelfApproval,

    // Enrollments and the outbox.
    #[error("no enrollment {0}")]
    UnknownEnrollment(EnrollmentId),
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    #[error("new enrollments are frozen: {0}")]
    Frozen(FreezeReason),
    #[error("no packet {0} in the outbox")]
    UnknownPacket(PacketId),
    #[error("packet {0} is in the outbox already")]
    DuplicatePacket(PacketId),
    #[error("packet {packet} is {state}, not {expected}")]
    OutboxState {
        packet: PacketId,
        state: OutboxState,
        expected: &'static str,
    },
}

impl StoreError {
    pub(crate) fn corrupt(column: &'static str, problem: &'static str) -> Self {
        Self::Corrupt { column, problem }
    }
}
