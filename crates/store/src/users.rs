//! Station staff: accounts and roles, argon2id password hashes, lock-out
//! after repeated failures, and idle-limited sessions.
//!
//! The store decides what a user may do from the role in the database, read
//! at the time of the action, so a role change takes effect at once even for
//! a user who is signed in. Passwords exist only in memory, briefly, while
//! being hashed or checked; they are never stored, logged or put in errors.

use std::time::Duration;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::Serialize;
use sqlx::SqliteConnection;
use zeroize::Zeroizing;

use crate::Store;
use crate::audit::{self, Actor, AuditAction};
use crate::clock::Timestamp;
use crate::config::PasswordHashing;
use crate::error::StoreError;
use crate::ids::{SessionId, UserId, new_uuid};

text_enum! {
    /// What a member of staff may do.
    pub enum Role {
        /// Runs enrollments.
        Clerk = "clerk",
        /// Runs enrollments and reviews other people's.
        Supervisor = "supervisor",
        /// Manages users and settings; does not enroll or review.
        Administrator = "administrator",
    }
}

impl Role {
    /// May start and carry out enrollments.
    pub fn can_enroll(self) -> bool {
        matches!(self, Self::Clerk | Self::Supervisor)
    }

    /// May approve or reject enrollments (never their own).
    pub fn can_review(self) -> bool {
        matches!(self, Self::Supervisor)
    }

    pub fn can_administer(self) -> bool {
        matches!(self, Self::Administrator)
    }
}

/// A member of staff, without the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    /// Set while (or since) failed logins locked the account.
    pub locked_until: Option<Timestamp>,
    pub created_at: Timestamp,
    pub last_login_at: Option<Timestamp>,
}

/// A signed-in user. It ends after [`SessionPolicy::idle_timeout`]
/// without activity; every action should [`touch`](Session::touch) it first.
///
/// [`SessionPolicy::idle_timeout`]: crate::SessionPolicy::idle_timeout
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    id: SessionId,
    user_id: UserId,
    username: String,
    role: Role,
    started_at: Timestamp,
    last_activity: Timestamp,
    idle_timeout: Duration,
}

impl Session {
    pub fn id(&self) -> SessionId {
        self.id
    }

    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    /// The role at sign-in; the store re-reads it for every action.
    pub fn role(&self) -> Role {
        self.role
    }

    pub fn started_at(&self) -> Timestamp {
        self.started_at
    }

    pub fn last_activity(&self) -> Timestamp {
        self.last_activity
    }

    /// When the session ends unless touched before.
    pub fn expires_at(&self) -> Timestamp {
        self.last_activity.saturating_add(self.idle_timeout)
    }

    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at()
    }

    /// Records activity at `now`. An expired session stays expired: the
    /// user must sign in again.
    pub fn touch(&mut self, now: Timestamp) -> Result<(), StoreError> {
        if self.is_expired(now) {
            return Err(StoreError::SessionExpired);
        }
        self.last_activity = self.last_activity.max(now);
        Ok(())
    }
}

/// A user row as read, before checking.
struct UserRow {
    id: String,
    username: String,
    role: String,
    disabled: i64,
    locked_until: Option<i64>,
    created_at: i64,
    last_login_at: Option<i64>,
}

impl UserRow {
    fn into_user(self) -> Result<User, StoreError> {
        Ok(User {
            id: UserId::from_column("users.id", &self.id)?,
            username: self.username,
            role: Role::from_column("users.role", &self.role)?,
            disabled: flag("users.disabled", self.disabled)?,
            locked_until: self.locked_until.map(Timestamp::from_unix_ms),
            created_at: Timestamp::from_unix_ms(self.created_at),
            last_login_at: self.last_login_at.map(Timestamp::from_unix_ms),
        })
    }
}

fn flag(column: &'static str, value: i64) -> Result<bool, StoreError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(StoreError::corrupt(column, "not 0 or 1")),
    }
}

/// User names: 1 to 64 of `a-z 0-9 . _ -`, compared in lower case.
fn normalise_username(name: &str) -> Option<String> {
    let name = name.trim().to_ascii_lowercase();
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    ok.then_some(name)
}

fn hasher(cost: PasswordHashing) -> Result<Argon2<'static>, StoreError> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|e| StoreError::PasswordHashing(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes on a blocking thread: argon2 is deliberately slow and would stall
/// the async runtime.
async fn hash_password(cost: PasswordHashing, password: &str) -> Result<String, StoreError> {
    let password = Zeroizing::new(password.to_owned());
    tokio::task::spawn_blocking(move || {
        let argon2 = hasher(cost)?;
        argon2
            .hash_password(password.as_bytes())
            .map(|phc| phc.to_string())
            .map_err(|e| StoreError::PasswordHashing(e.to_string()))
    })
    .await
    .map_err(|e| StoreError::Task(e.to_string()))?
}

/// Whether `password` matches the PHC string `phc`, with the cost stored in
/// the hash.
async fn verify_password(phc: String, password: &str) -> Result<bool, StoreError> {
    let password = Zeroizing::new(password.to_owned());
    tokio::task::spawn_blocking(move || {
        match Argon2::default().verify_password(password.as_bytes(), phc.as_str()) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
            Err(_) => Err(StoreError::corrupt(
                "users.password_hash",
                "not an argon2 PHC string",
            )),
        }
    })
    .await
    .map_err(|e| StoreError::Task(e.to_string()))?
}

async fn load_user(conn: &mut SqliteConnection, id: UserId) -> Result<Option<User>, StoreError> {
    let id_text = id.to_column();
    sqlx::query_as!(
        UserRow,
        "SELECT id, username, role, disabled, locked_until, created_at, last_login_at \
         FROM users WHERE id = ?1",
        id_text,
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(UserRow::into_user)
    .transpose()
}

/// The user `id`, enabled, with a role that satisfies `allowed`; otherwise
/// the reason it may not `action`.
pub(crate) async fn require_role(
    conn: &mut SqliteConnection,
    id: UserId,
    action: &'static str,
    allowed: impl Fn(Role) -> bool,
) -> Result<User, StoreError> {
    let user = load_user(conn, id)
        .await?
        .ok_or(StoreError::UnknownUser(id))?;
    if user.disabled {
        return Err(StoreError::UserDisabled(id));
    }
    if !allowed(user.role) {
        return Err(StoreError::NotPermitted {
            role: user.role,
            action,
        });
    }
    Ok(user)
}

impl Store {
    fn check_password_rules(&self, password: &str) -> Result<(), StoreError> {
        let min = self.config.sessions.min_password_chars;
        if password.chars().count() < min {
            return Err(StoreError::PasswordTooShort { min });
        }
        Ok(())
    }

    /// True on a fresh station: nobody can sign in until the first
    /// administrator is created.
    pub async fn needs_first_administrator(&self) -> Result<bool, StoreError> {
        let n = sqlx::query_scalar!("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        Ok(n == 0)
    }

    /// Creates the first user, an administrator. Refused once any user
    /// exists, so it cannot be used to add a back-door account later.
    pub async fn create_first_administrator(
        &self,
        username: &str,
        password: &str,
    ) -> Result<User, StoreError> {
        let username = normalise_username(username).ok_or(StoreError::InvalidUsername)?;
        self.check_password_rules(password)?;
        if !self.needs_first_administrator().await? {
            return Err(StoreError::AlreadyInitialised);
        }
        let hash = hash_password(self.config.password_hashing, password).await?;
        let mut tx = self.begin_write().await?;
        // Checked again under the write lock: two first-run screens racing
        // must not both succeed.
        let n = sqlx::query_scalar!("SELECT COUNT(*) FROM users")
            .fetch_one(&mut *tx)
            .await?;
        if n != 0 {
            return Err(StoreError::AlreadyInitialised);
        }
        let user = insert_user(&mut tx, self.now(), &username, Role::Administrator, &hash).await?;
        let subject = user.id.to_column();
        audit::append(
            &mut tx,
            self.now(),
            Actor::System,
            AuditAction::UserCreated,
            Some(&subject),
            "first administrator",
        )
        .await?;
        tx.commit().await?;
        tracing::info!(user = %user.id, "first administrator created");
        Ok(user)
    }

    /// An administrator adds a user.
    pub async fn create_user(
        &self,
        admin: UserId,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<User, StoreError> {
        let username = normalise_username(username).ok_or(StoreError::InvalidUsername)?;
        self.check_password_rules(password)?;
        // Checked before the slow hash, and again in the transaction.
        require_role(
            &mut *self.pool.acquire().await?,
            admin,
            "create users",
            Role::can_administer,
        )
        .await?;
        let hash = hash_password(self.config.password_hashing, password).await?;
        let mut tx = self.begin_write().await?;
        require_role(&mut tx, admin, "create users", Role::can_administer).await?;
        let user = insert_user(&mut tx, self.now(), &username, role, &hash).await?;
        let subject = user.id.to_column();
        audit::append(
            &mut tx,
            self.now(),
            Actor::User(admin),
            AuditAction::UserCreated,
            Some(&subject),
            &format!("role {role}"),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(user = %user.id, %role, "user created");
        Ok(user)
    }

    /// An administrator changes a user's role.
    pub async fn set_role(
        &self,
        admin: UserId,
        user: UserId,
        role: Role,
    ) -> Result<User, StoreError> {
        let mut tx = self.begin_write().await?;
        require_role(&mut tx, admin, "change roles", Role::can_administer).await?;
        let before = load_user(&mut tx, user)
            .await?
            .ok_or(StoreError::UnknownUser(user))?;
        if before.role == role {
            return Ok(before);
        }
        if before.role == Role::Administrator && !before.disabled {
            ensure_another_administrator(&mut tx, user).await?;
        }
        let now = self.now();
        let (role_text, now_ms, id_text) = (role.as_str(), now.unix_ms(), user.to_column());
        sqlx::query!(
            "UPDATE users SET role = ?1, updated_at = ?2 WHERE id = ?3",
            role_text,
            now_ms,
            id_text,
        )
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            now,
            Actor::User(admin),
            AuditAction::RoleChanged,
            Some(&id_text),
            &format!("{} -> {role}", before.role),
        )
        .await?;
        tx.commit().await?;
        Ok(User { role, ..before })
    }

    /// An administrator disables or re-enables a user.
    pub async fn set_user_disabled(
        &self,
        admin: UserId,
        user: UserId,
        disabled: bool,
    ) -> Result<User, StoreError> {
        let mut tx = self.begin_write().await?;
        require_role(&mut tx, admin, "disable users", Role::can_administer).await?;
        let before = load_user(&mut tx, user)
            .await?
            .ok_or(StoreError::UnknownUser(user))?;
        if before.disabled == disabled {
            return Ok(before);
        }
        if disabled && before.role == Role::Administrator {
            ensure_another_administrator(&mut tx, user).await?;
        }
        let now = self.now();
        let (flag, now_ms, id_text) = (i64::from(disabled), now.unix_ms(), user.to_column());
        sqlx::query!(
            "UPDATE users SET disabled = ?1, updated_at = ?2 WHERE id = ?3",
            flag,
            now_ms,
            id_text,
        )
        .execute(&mut *tx)
        .await?;
        let action = if disabled {
            AuditAction::UserDisabled
        } else {
            AuditAction::UserEnabled
        };
        audit::append(&mut tx, now, Actor::User(admin), action, Some(&id_text), "").await?;
        tx.commit().await?;
        Ok(User { disabled, ..before })
    }

    /// An administrator sets a new password for a user; this also lifts a
    /// lock-out.
    pub async fn reset_password(
        &self,
        admin: UserId,
        user: UserId,
        new_password: &str,
    ) -> Result<(), StoreError> {
        self.check_password_rules(new_password)?;
        let hash = hash_password(self.config.password_hashing, new_password).await?;
        let mut tx = self.begin_write().await?;
        require_role(&mut tx, admin, "reset passwords", Role::can_administer).await?;
        load_user(&mut tx, user)
            .await?
            .ok_or(StoreError::UnknownUser(user))?;
        let now = self.now();
        let (now_ms, id_text) = (now.unix_ms(), user.to_column());
        sqlx::query!(
            "UPDATE users SET password_hash = ?1, failed_logins = 0, locked_until = NULL, \
             updated_at = ?2 WHERE id = ?3",
            hash,
            now_ms,
            id_text,
        )
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            now,
            Actor::User(admin),
            AuditAction::PasswordReset,
            Some(&id_text),
            "",
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        load_user(&mut *self.pool.acquire().await?, id).await
    }

    /// All users, by name.
    pub async fn users(&self) -> Result<Vec<User>, StoreError> {
        sqlx::query_as!(
            UserRow,
            "SELECT id, username, role, disabled, locked_until, created_at, last_login_at \
             FROM users ORDER BY username",
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(UserRow::into_user)
        .collect()
    }

    /// Signs a user in.
    ///
    /// An unknown name and a wrong password both give
    /// [`StoreError::InvalidCredentials`], and take about as long (an
    /// unknown name is checked against a decoy hash). After
    /// [`LockoutPolicy::max_failures`] consecutive failures the account is
    /// locked for [`LockoutPolicy::lock_duration`] and the answer is
    /// [`StoreError::AccountLocked`]. A disabled account is reported only to
    /// someone who knows its password.
    ///
    /// [`LockoutPolicy::max_failures`]: crate::LockoutPolicy::max_failures
    /// [`LockoutPolicy::lock_duration`]: crate::LockoutPolicy::lock_duration
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Session, StoreError> {
        let row = match normalise_username(username) {
            None => None,
            Some(name) => {
                sqlx::query!(
                    "SELECT id, role, password_hash, disabled, locked_until \
                     FROM users WHERE username = ?1",
                    name,
                )
                .fetch_optional(&self.pool)
                .await?
            }
        };
        let Some(row) = row else {
            self.check_decoy(password).await?;
            // The name itself is not logged: it may be a mistyped password.
            self.record_audit(
                Actor::System,
                AuditAction::LoginFailed,
                None,
                "unknown user",
            )
            .await?;
            return Err(StoreError::InvalidCredentials);
        };
        let id = UserId::from_column("users.id", &row.id)?;
        let role = Role::from_column("users.role", &row.role)?;
        let disabled = flag("users.disabled", row.disabled)?;
        let subject = id.to_column();

        let now = self.now();
        if let Some(until) = row.locked_until.map(Timestamp::from_unix_ms)
            && until > now
        {
            self.record_audit(
                Actor::System,
                AuditAction::LoginLocked,
                Some(&subject),
                "attempt while locked",
            )
            .await?;
            return Err(StoreError::AccountLocked { until });
        }

        let matches = verify_password(row.password_hash, password).await?;
        // The clock is read again: hashing takes time.
        let now = self.now();
        let now_ms = now.unix_ms();
        let mut tx = self.begin_write().await?;
        if !matches {
            sqlx::query!(
                "UPDATE users SET failed_logins = failed_logins + 1, updated_at = ?1 WHERE id = ?2",
                now_ms,
                subject,
            )
            .execute(&mut *tx)
            .await?;
            let failures =
                sqlx::query_scalar!("SELECT failed_logins FROM users WHERE id = ?1", subject)
                    .fetch_one(&mut *tx)
                    .await?;
            audit::append(
                &mut tx,
                now,
                Actor::System,
                AuditAction::LoginFailed,
                Some(&subject),
                "wrong password",
            )
            .await?;
            let policy = self.config.lockout;
            if failures >= i64::from(policy.max_failures) {
                let until = now.saturating_add(policy.lock_duration);
                let until_ms = until.unix_ms();
                // The count restarts, so after the lock the user gets the
                // full number of tries again.
                sqlx::query!(
                    "UPDATE users SET failed_logins = 0, locked_until = ?1 WHERE id = ?2",
                    until_ms,
                    subject,
                )
                .execute(&mut *tx)
                .await?;
                audit::append(
                    &mut tx,
                    now,
                    Actor::System,
                    AuditAction::LoginLocked,
                    Some(&subject),
                    &format!("locked after {failures} failed logins"),
                )
                .await?;
                tx.commit().await?;
                tracing::warn!(user = %id, "account locked after repeated failed logins");
                return Err(StoreError::AccountLocked { until });
            }
            tx.commit().await?;
            return Err(StoreError::InvalidCredentials);
        }
        if disabled {
            audit::append(
                &mut tx,
                now,
                Actor::System,
                AuditAction::LoginFailed,
                Some(&subject),
                "account disabled",
            )
            .await?;
            tx.commit().await?;
            return Err(StoreError::AccountDisabled);
        }
        sqlx::query!(
            "UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = ?1 \
             WHERE id = ?2",
            now_ms,
            subject,
        )
        .execute(&mut *tx)
        .await?;
        let username = sqlx::query_scalar!("SELECT username FROM users WHERE id = ?1", subject)
            .fetch_one(&mut *tx)
            .await?;
        let session = Session {
            id: SessionId::from_uuid(new_uuid()),
            user_id: id,
            username,
            role,
            started_at: now,
            last_activity: now,
            idle_timeout: self.config.sessions.idle_timeout,
        };
        audit::append(
            &mut tx,
            now,
            Actor::User(id),
            AuditAction::Login,
            Some(&subject),
            &format!("session {}, role {role}", session.id),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(user = %id, %role, "signed in");
        Ok(session)
    }

    /// Ends a session: a logout, or, if it had already expired, the end of
    /// an idle session.
    pub async fn logout(&self, session: Session) -> Result<(), StoreError> {
        let (action, why) = if session.is_expired(self.now()) {
            (AuditAction::SessionExpired, "idle timeout")
        } else {
            (AuditAction::Logout, "by user")
        };
        let subject = session.user_id.to_column();
        self.record_audit(
            Actor::User(session.user_id),
            action,
            Some(&subject),
            &format!("session {}, {why}", session.id),
        )
        .await?;
        Ok(())
    }

    /// Spends the time a real check would, against a hash nobody's password
    /// matches.
    async fn check_decoy(&self, password: &str) -> Result<(), StoreError> {
        let decoy = match self.decoy_hash.get() {
            Some(h) => h.clone(),
            None => {
                let h =
                    hash_password(self.config.password_hashing, &new_uuid().to_string()).await?;
                self.decoy_hash.get_or_init(|| h).clone()
            }
        };
        verify_password(decoy, password).await?;
        Ok(())
    }
}

async fn insert_user(
    conn: &mut SqliteConnection,
    now: Timestamp,
    username: &str,
    role: Role,
    hash: &str,
) -> Result<User, StoreError> {
    let id = UserId::from_uuid(new_uuid());
    let (id_text, role_text, now_ms) = (id.to_column(), role.as_str(), now.unix_ms());
    let inserted = sqlx::query!(
        "INSERT INTO users (id, username, role, password_hash, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        id_text,
        username,
        role_text,
        hash,
        now_ms,
    )
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => {}
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(StoreError::UsernameTaken);
        }
        Err(e) => return Err(e.into()),
    }
    Ok(User {
        id,
        username: username.to_owned(),
        role,
        disabled: false,
        locked_until: None,
        created_at: now,
        last_login_at: None,
    })
}

/// Refuses to take away `leaving`'s administrator powers if nobody else
/// enabled would have them.
async fn ensure_another_administrator(
    conn: &mut SqliteConnection,
    leaving: UserId,
) -> Result<(), StoreError> {
    let id_text = leaving.to_column();
    let others = sqlx::query_scalar!(
        "SELECT COUNT(*) FROM users WHERE role = 'administrator' AND disabled = 0 AND id != ?1",
        id_text,
    )
    .fetch_one(&mut *conn)
    .await?;
    if others == 0 {
        return Err(StoreError::LastAdministrator);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        assert_eq!(
            normalise_username(" Clerk.One ").as_deref(),
            Some("clerk.one")
        );
        assert_eq!(normalise_username("a_b-9").as_deref(), Some("a_b-9"));
        assert_eq!(normalise_username(""), None);
        assert_eq!(normalise_username("with space"), None);
        assert_eq!(normalise_username("ünïcode"), None);
        assert_eq!(normalise_username(&"x".repeat(65)), None);
    }

    #[test]
    fn sessions_expire_when_idle_and_stay_expired() {
        let t0 = Timestamp::from_unix_ms(1_000_000);
        let mut s = Session {
            id: SessionId::from_uuid(new_uuid()),
            user_id: UserId::from_uuid(new_uuid()),
            username: "u".into(),
            role: Role::Clerk,
            started_at: t0,
            last_activity: t0,
            idle_timeout: Duration::from_secs(60),
        };
        let t1 = t0.saturating_add(Duration::from_secs(59));
        assert!(!s.is_expired(t1));
        s.touch(t1).unwrap();
        assert_eq!(s.last_activity(), t1);
        // 59 s after the touch: still alive, though 118 s after sign-in.
        let t2 = t1.saturating_add(Duration::from_secs(59));
        assert!(!s.is_expired(t2));
        let t3 = t1.saturating_add(Duration::from_secs(60));
        assert!(s.is_expired(t3));
        assert!(matches!(s.touch(t3), Err(StoreError::SessionExpired)));
        assert_eq!(s.last_activity(), t1);
    }
}
