//! The store's policy knobs: password hashing cost, lock-out, session idle
//! time, payload retention and the freeze thresholds.
//!
//! Defaults are the production values from the issue; tests shrink the
//! hashing cost with [`PasswordHashing::FAST_INSECURE`].

use std::time::Duration;

/// Everything configurable about the store's rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreConfig {
    pub password_hashing: PasswordHashing,
    pub lockout: LockoutPolicy,
    pub sessions: SessionPolicy,
    pub retention: RetentionPolicy,
    pub freeze: FreezePolicy,
}

/// argon2id cost parameters for new password hashes. Verification always
/// uses the parameters stored in the hash itself, so changing these does
/// not lock anybody out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHashing {
    /// Memory per hash, in KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl PasswordHashing {
    /// The smallest cost argon2 accepts: for tests only.
    pub const FAST_INSECURE: Self = Self {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
}

impl Default for PasswordHashing {
    /// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// When repeated failed logins lock an account, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock the account.
    pub max_failures: u32,
    pub lock_duration: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            lock_duration: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session with no activity for this long is over.
    pub idle_timeout: Duration,
    /// Shortest password accepted for new or reset passwords, in characters.
    pub min_password_chars: usize,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(15 * 60),
            min_password_chars: 8,
        }
    }
}

/// How long sealed packets stay on the station once the platform has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Time after acknowledgement before the sealed bytes are deleted.
    pub purge_acknowledged_after: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            purge_acknowledged_after: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// When the station stops taking new enrollments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreezePolicy {
    /// More enrollments than this waiting for a supervisor freezes intake.
    pub max_awaiting_approval: u32,
    /// An unsent packet older than this freezes intake.
    pub max_unsent_age: Duration,
}

impl Default for FreezePolicy {
    fn default() -> Self {
        Self {
            max_awaiting_approval: 20,
            max_unsent_age: Duration::from_secs(7 * 24 * 60 * 60),
        }
    }
}
