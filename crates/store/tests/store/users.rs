//! Roles, lock-out, sessions, first run, and what reaches the file.

use std::time::Duration;

use store::{AuditAction, Role, StoreConfig, StoreError};

use crate::common::{PASSWORD, T0, empty_station, fast_config, station, station_with};

#[tokio::test]
async fn a_clerk_cannot_approve() {
    let s = station().await;
    let other_clerk = s
        .store
        .create_user(s.admin, "clerk2", PASSWORD, Role::Clerk)
        .await
        .unwrap()
        .id;
    let id = s.ready_for_review().await;
    let err = s.store.approve(id, other_clerk).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::NotPermitted {
                role: Role::Clerk,
                ..
            }
        ),
        "{err}"
    );
    // Nor can an administrator: reviewing is the supervisor's job.
    let err = s.store.approve(id, s.admin).await.unwrap_err();
    assert!(matches!(err, StoreError::NotPermitted { .. }), "{err}");
    let err = s.store.reject(id, other_clerk, "no").await.unwrap_err();
    assert!(matches!(err, StoreError::NotPermitted { .. }), "{err}");
    assert_eq!(
        s.store.enrollment(id).await.unwrap().state,
        enrollment::EnrollmentState::ReadyForReview
    );
}

#[tokio::test]
async fn a_supervisor_cannot_approve_their_own_enrollment() {
    let s = station().await;
    let id = s.ready_for_review_by(s.supervisor).await;
    let err = s.store.approve(id, s.supervisor).await.unwrap_err();
    assert!(matches!(err, StoreError::SelfApproval), "{err}");
    assert_eq!(
        s.store.enrollment(id).await.unwrap().state,
        enrollment::EnrollmentState::ReadyForReview
    );
    // Another supervisor can.
    let second = s
        .store
        .create_user(s.admin, "super2", PASSWORD, Role::Supervisor)
        .await
        .unwrap()
        .id;
    let approved = s.store.approve(id, second).await.unwrap();
    assert_eq!(approved.supervisor_id, Some(second));
}

#[tokio::test]
async fn a_supervisor_approves_or_rejects_a_clerks_enrollment() {
    let s = station().await;
    let id = s.ready_for_review().await;
    let e = s.store.approve(id, s.supervisor).await.unwrap();
    assert_eq!(e.state, enrollment::EnrollmentState::Approved);
    assert_eq!(e.clerk_id, s.clerk);
    assert_eq!(e.supervisor_id, Some(s.supervisor));
    assert_eq!(s.store.enrollment(id).await.unwrap(), e);
    // Approving twice is an illegal transition.
    let err = s.store.approve(id, s.supervisor).await.unwrap_err();
    assert!(matches!(err, StoreError::IllegalTransition(_)), "{err}");

    let id = s.ready_for_review().await;
    let e = s
        .store
        .reject(id, s.supervisor, "portrait\ntoo dark")
        .await
        .unwrap();
    assert_eq!(e.state, enrollment::EnrollmentState::Rejected);
    assert_eq!(e.reason.as_deref(), Some("portrait too dark"));

    let last = s.store.audit_entries(0, 1000).await.unwrap();
    let last = last.last().unwrap();
    assert_eq!(last.action, AuditAction::Rejected);
    assert_eq!(last.subject.as_deref(), Some(id.to_string().as_str()));
}

#[tokio::test]
async fn only_the_enrollments_clerk_records_its_steps_in_order() {
    use store::enrollments::ClerkStep;
    let s = station().await;
    let id = s.store.start_enrollment(s.clerk).await.unwrap().id;
    let err = s
        .store
        .record_step(id, s.supervisor, ClerkStep::ReadDocument, "")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotTheClerk { .. }), "{err}");
    let err = s
        .store
        .record_step(id, s.clerk, ClerkStep::SubmitForReview, "")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::IllegalTransition(_)), "{err}");
    let err = s.store.start_enrollment(s.admin).await.unwrap_err();
    assert!(matches!(err, StoreError::NotPermitted { .. }), "{err}");
}

#[tokio::test]
async fn a_role_change_applies_at_once() {
    let s = station().await;
    let promoted = s
        .store
        .create_user(s.admin, "clerk2", PASSWORD, Role::Clerk)
        .await
        .unwrap();
    let id = s.ready_for_review().await;
    assert!(s.store.approve(id, promoted.id).await.is_err());
    let u = s
        .store
        .set_role(s.admin, promoted.id, Role::Supervisor)
        .await
        .unwrap();
    assert_eq!(u.role, Role::Supervisor);
    s.store.approve(id, promoted.id).await.unwrap();

    let changes: Vec<_> = s
        .store
        .audit_entries(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == AuditAction::RoleChanged)
        .collect();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].detail, "clerk -> supervisor");
    assert_eq!(changes[0].actor, store::Actor::User(s.admin));
}

#[tokio::test]
async fn only_administrators_manage_users_and_one_always_remains() {
    let s = station().await;
    let err = s
        .store
        .create_user(s.supervisor, "x", PASSWORD, Role::Administrator)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotPermitted { .. }), "{err}");
    let err = s
        .store
        .create_user(s.admin, "Clerk", PASSWORD, Role::Clerk)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UsernameTaken), "{err}");
    let err = s
        .store
        .create_user(s.admin, "bad name", PASSWORD, Role::Clerk)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidUsername), "{err}");
    let err = s
        .store
        .create_user(s.admin, "short", "1234567", Role::Clerk)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::PasswordTooShort { min: 8 }),
        "{err}"
    );

    let err = s
        .store
        .set_role(s.admin, s.admin, Role::Clerk)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LastAdministrator), "{err}");
    let err = s
        .store
        .set_user_disabled(s.admin, s.admin, true)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::LastAdministrator), "{err}");

    let users = s.store.users().await.unwrap();
    let names: Vec<_> = users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["admin", "clerk", "super"]);
}

#[tokio::test]
async fn the_first_administrator_is_created_only_once() {
    let (_dir, store, _clock) = empty_station(fast_config()).await;
    assert!(store.needs_first_administrator().await.unwrap());
    let admin = store
        .create_first_administrator("Root", PASSWORD)
        .await
        .unwrap();
    assert_eq!(admin.role, Role::Administrator);
    assert_eq!(admin.username, "root");
    assert!(!store.needs_first_administrator().await.unwrap());
    let err = store
        .create_first_administrator("second", PASSWORD)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyInitialised), "{err}");
    assert_eq!(store.users().await.unwrap().len(), 1);

    let log = store.audit_entries(0, 100).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].action, AuditAction::UserCreated);
    assert_eq!(log[0].actor, store::Actor::System);
    assert_eq!(
        log[0].subject.as_deref(),
        Some(admin.id.to_string().as_str())
    );
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    let s = station().await;
    let a = s.store.authenticate("nobody", PASSWORD).await.unwrap_err();
    let b = s
        .store
        .authenticate("clerk", "wrong password")
        .await
        .unwrap_err();
    assert!(matches!(a, StoreError::InvalidCredentials), "{a}");
    assert!(matches!(b, StoreError::InvalidCredentials), "{b}");
    assert_eq!(a.to_string(), b.to_string());

    let session = s.store.authenticate("CLERK", PASSWORD).await.unwrap();
    assert_eq!(session.user_id(), s.clerk);
    assert_eq!(session.role(), Role::Clerk);
    assert_eq!(session.username(), "clerk");

    let log = s.store.audit_entries(0, 1000).await.unwrap();
    let tail: Vec<_> = log[log.len() - 3..].iter().map(|e| e.action).collect();
    assert_eq!(
        tail,
        [
            AuditAction::LoginFailed,
            AuditAction::LoginFailed,
            AuditAction::Login
        ]
    );
    // The unknown name is not written anywhere in the log.
    assert!(
        log.iter()
            .all(|e| !e.detail.contains("nobody") && e.subject.as_deref() != Some("nobody"))
    );
    assert_eq!(log[log.len() - 3].subject, None);
}

#[tokio::test]
async fn five_failures_lock_the_account_until_the_lock_time_passes() {
    let s = station().await;
    for _ in 0..4 {
        let err = s.store.authenticate("clerk", "wrong!!!").await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidCredentials), "{err}");
        s.clock.advance(Duration::from_secs(1));
    }
    let lock_start = s.store.now();
    let err = s.store.authenticate("clerk", "wrong!!!").await.unwrap_err();
    let StoreError::AccountLocked { until } = err else {
        panic!("expected a lock, got {err}");
    };
    assert_eq!(
        until,
        lock_start.saturating_add(Duration::from_secs(15 * 60))
    );
    // Locked: even the right password is refused, without being checked.
    let err = s.store.authenticate("clerk", PASSWORD).await.unwrap_err();
    assert!(matches!(err, StoreError::AccountLocked { .. }), "{err}");
    // Other users are not affected.
    s.store.authenticate("super", PASSWORD).await.unwrap();

    s.clock.advance(Duration::from_secs(15 * 60 - 1));
    assert!(matches!(
        s.store.authenticate("clerk", PASSWORD).await,
        Err(StoreError::AccountLocked { .. })
    ));
    s.clock.advance(Duration::from_secs(1));
    s.store.authenticate("clerk", PASSWORD).await.unwrap();

    // The count restarted: four more failures do not lock again.
    for _ in 0..4 {
        assert!(matches!(
            s.store.authenticate("clerk", "wrong!!!").await,
            Err(StoreError::InvalidCredentials)
        ));
    }
    // A success resets it as well.
    s.store.authenticate("clerk", PASSWORD).await.unwrap();
    for _ in 0..4 {
        assert!(matches!(
            s.store.authenticate("clerk", "wrong!!!").await,
            Err(StoreError::InvalidCredentials)
        ));
    }
    s.store.authenticate("clerk", PASSWORD).await.unwrap();

    let locked = s
        .store
        .audit_entries(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == AuditAction::LoginLocked)
        .count();
    // One when locking, two refused attempts while locked.
    assert_eq!(locked, 3);
}

#[tokio::test]
async fn the_lock_out_is_configurable() {
    let mut config = fast_config();
    config.lockout.max_failures = 2;
    config.lockout.lock_duration = Duration::from_secs(60);
    let s = station_with(config).await;
    assert!(s.store.authenticate("clerk", "wrong!!!").await.is_err());
    let err = s.store.authenticate("clerk", "wrong!!!").await.unwrap_err();
    assert!(matches!(err, StoreError::AccountLocked { .. }), "{err}");
    s.clock.advance(Duration::from_secs(60));
    s.store.authenticate("clerk", PASSWORD).await.unwrap();
}

#[tokio::test]
async fn a_disabled_account_is_refused() {
    let s = station().await;
    s.store
        .set_user_disabled(s.admin, s.clerk, true)
        .await
        .unwrap();
    let err = s.store.authenticate("clerk", PASSWORD).await.unwrap_err();
    assert!(matches!(err, StoreError::AccountDisabled), "{err}");
    // Without the password, it looks like any failure.
    let err = s.store.authenticate("clerk", "wrong!!!").await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidCredentials), "{err}");
    // A disabled clerk cannot act either.
    let err = s.store.start_enrollment(s.clerk).await.unwrap_err();
    assert!(matches!(err, StoreError::UserDisabled(_)), "{err}");

    s.store
        .set_user_disabled(s.admin, s.clerk, false)
        .await
        .unwrap();
    s.store.authenticate("clerk", PASSWORD).await.unwrap();
}

#[tokio::test]
async fn a_password_reset_lifts_a_lock() {
    let s = station().await;
    for _ in 0..5 {
        let _ = s.store.authenticate("clerk", "wrong!!!").await;
    }
    assert!(
        s.store
            .user(s.clerk)
            .await
            .unwrap()
            .unwrap()
            .locked_until
            .is_some()
    );
    s.store
        .reset_password(s.admin, s.clerk, "a new password")
        .await
        .unwrap();
    assert!(matches!(
        s.store.authenticate("clerk", PASSWORD).await,
        Err(StoreError::InvalidCredentials)
    ));
    s.store
        .authenticate("clerk", "a new password")
        .await
        .unwrap();
}

#[tokio::test]
async fn an_idle_session_expires() {
    let s = station().await;
    let mut session = s.store.authenticate("clerk", PASSWORD).await.unwrap();
    assert_eq!(session.started_at(), T0);
    assert_eq!(
        session.expires_at(),
        T0.saturating_add(Duration::from_secs(15 * 60))
    );

    // Activity every 10 minutes keeps it alive past 15 minutes in total.
    for _ in 0..3 {
        s.clock.advance(Duration::from_secs(10 * 60));
        session.touch(s.store.now()).unwrap();
    }
    assert!(!session.is_expired(s.store.now()));
    s.clock.advance(Duration::from_secs(15 * 60));
    assert!(session.is_expired(s.store.now()));
    assert!(matches!(
        session.touch(s.store.now()),
        Err(StoreError::SessionExpired)
    ));

    s.store.logout(session).await.unwrap();
    let other = s.store.authenticate("super", PASSWORD).await.unwrap();
    s.store.logout(other).await.unwrap();
    let log = s.store.audit_entries(0, 1000).await.unwrap();
    let tail: Vec<_> = log[log.len() - 3..].iter().map(|e| e.action).collect();
    assert_eq!(
        tail,
        [
            AuditAction::SessionExpired,
            AuditAction::Login,
            AuditAction::Logout
        ]
    );
}

#[tokio::test]
async fn the_idle_timeout_is_configurable() {
    let config = StoreConfig {
        sessions: store::SessionPolicy {
            idle_timeout: Duration::from_secs(30),
            ..Default::default()
        },
        ..fast_config()
    };
    let s = station_with(config).await;
    let session = s.store.authenticate("clerk", PASSWORD).await.unwrap();
    s.clock.advance(Duration::from_secs(29));
    assert!(!session.is_expired(s.store.now()));
    s.clock.advance(Duration::from_secs(1));
    assert!(session.is_expired(s.store.now()));
}

#[tokio::test]
async fn the_database_file_holds_no_password_in_clear() {
    let s = station().await;
    s.store.authenticate("clerk", PASSWORD).await.unwrap();
    let _ = s.store.authenticate("clerk", "another secret").await;
    s.store
        .reset_password(s.admin, s.supervisor, "reset secret 42")
        .await
        .unwrap();
    let path = s.store.path().to_owned();
    s.store.clone().close().await;

    // The main file and, in WAL mode, its log and index.
    let mut checked = 0;
    for entry in std::fs::read_dir(s.dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        for secret in [PASSWORD, "another secret", "reset secret 42"] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret:?} found in the database files"
            );
        }
        checked += 1;
    }
    assert!(checked >= 1);

    let mut raw = {
        use sqlx::Connection;
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap()
    };
    let hashes: Vec<String> = sqlx::query_scalar("SELECT password_hash FROM users")
        .fetch_all(&mut raw)
        .await
        .unwrap();
    assert_eq!(hashes.len(), 3);
    for h in hashes {
        assert!(h.starts_with("$argon2id$v=19$"), "{h}");
    }
}

#[tokio::test]
async fn production_hashing_defaults_are_sane() {
    let d = store::PasswordHashing::default();
    assert!(d.memory_kib >= 19 * 1024);
    assert!(d.iterations >= 2);
    let c = StoreConfig::default();
    assert_eq!(c.lockout.max_failures, 5);
    assert_eq!(c.sessions.idle_timeout, Duration::from_secs(15 * 60));
    assert_eq!(
        c.retention.purge_acknowledged_after,
        Duration::from_secs(86_400)
    );
    assert_eq!(c.freeze.max_awaiting_approval, 20);
    assert_eq!(c.freeze.max_unsent_age, Duration::from_secs(7 * 86_400));
}

#[tokio::test]
async fn only_administrators_change_settings_and_it_is_audited() {
    let s = station().await;
    let err = s
        .store
        .set_setting(
            store::Actor::User(s.supervisor),
            "platform_url",
            "https://x",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotPermitted { .. }), "{err}");
    assert_eq!(s.store.setting("platform_url").await.unwrap(), None);

    s.store
        .set_setting(
            store::Actor::User(s.admin),
            "platform_url",
            "https://hub.example",
        )
        .await
        .unwrap();
    assert_eq!(
        s.store.setting("platform_url").await.unwrap().as_deref(),
        Some("https://hub.example")
    );
    let last = s.store.audit_entries(0, 1000).await.unwrap().pop().unwrap();
    assert_eq!(last.action, AuditAction::SettingsChanged);
    assert_eq!(last.actor, store::Actor::User(s.admin));
    assert_eq!(last.subject.as_deref(), Some("platform_url"));
    assert!(
        !last.detail.contains("hub.example"),
        "values are not logged"
    );
}
