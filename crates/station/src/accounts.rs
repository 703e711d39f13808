//! The station's database and its staff: opening the store, signing in,
//! `station user`, and the catalogue codes for what the store refuses.
//!
//! Passwords come from standard input (one per line) or from an
//! environment variable, never from the command line, where every user of
//! the machine could read them; they are held in zeroizing strings.

use std::io::BufRead;

use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};
use store::{Role, Session, Store, StoreError};
use zeroize::Zeroizing;

use crate::failure::{Code, Failure};
use crate::paths::StationPaths;

/// Opens (creating and migrating) the data directory's database.
pub async fn open_store(paths: &StationPaths) -> Result<Store, Failure> {
    paths.ensure_data_dir()?;
    Store::open(&paths.database()).await.map_err(store_failure)
}

/// The catalogue code for what the store refused or failed at.
pub fn store_failure(e: StoreError) -> Failure {
    let code = match &e {
        StoreError::Open { .. }
        | StoreError::Migrate { .. }
        | StoreError::Sql(_)
        | StoreError::Corrupt { .. } => Code::DatabaseUnavailable,
        StoreError::InvalidCredentials => Code::InvalidCredentials,
        StoreError::AccountLocked { .. } => Code::AccountLocked,
        StoreError::AccountDisabled | StoreError::UserDisabled(_) => Code::AccountDisabled,
        StoreError::SessionExpired => Code::InvalidCredentials,
        StoreError::AlreadyInitialised => Code::AlreadyInitialised,
        StoreError::InvalidUsername | StoreError::UsernameTaken => Code::UsernameUnavailable,
        StoreError::PasswordTooShort { .. } => Code::PasswordTooWeak,
        StoreError::UnknownUser(_) => Code::InvalidCredentials,
        StoreError::NotPermitted { .. }
        | StoreError::NotTheClerk { .. }
        | StoreError::LastAdministrator => Code::NotPermitted,
        StoreError::SelfApproval => Code::SelfApproval,
        StoreError::Frozen(_) => Code::EnrollmentFrozen,
        StoreError::UnknownPacket(_) => Code::PacketNotFound,
        StoreError::PasswordHashing(_)
        | StoreError::Task(_)
        | StoreError::UnknownEnrollment(_)
        | StoreError::IllegalTransition(_)
        | StoreError::DuplicatePacket(_) => Code::Internal,
        StoreError::OutboxState { .. } => Code::PacketNotResubmittable,
    };
    Failure::new(code, e)
}

/// Where passwords come from: environment variables first, then the lines
/// of standard input in the order asked for.
#[derive(Debug, Default)]
pub struct Passwords {
    stdin_lines: u32,
}

impl Passwords {
    /// The password in `env`, or else the next line of standard input.
    pub fn get(&mut self, env: Option<&str>, whose: &str) -> Result<Zeroizing<String>, Failure> {
        if let Some(var) = env
            && let Ok(value) = std::env::var(var)
        {
            return Ok(Zeroizing::new(value));
        }
        self.stdin_lines += 1;
        let mut line = Zeroizing::new(String::new());
        let read = std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::new(Code::PasswordMissing, format!("{whose}: {e}")))?;
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if read == 0 || trimmed.is_empty() {
            let hint = env.map_or(String::new(), |v| format!(" or {v}"));
            return Err(Failure::new(
                Code::PasswordMissing,
                format!("{whose}: line {} of standard input{hint}", self.stdin_lines),
            ));
        }
        Ok(Zeroizing::new(trimmed.to_owned()))
    }
}

/// Signs `name` in and checks the role is one `allowed` accepts.
pub async fn sign_in(
    store: &Store,
    name: &str,
    password: &str,
    action: &'static str,
    allowed: impl Fn(Role) -> bool,
) -> Result<Session, Failure> {
    let session = store
        .authenticate(name, password)
        .await
        .map_err(store_failure)?;
    if !allowed(session.role()) {
        let role = session.role();
        // The session is over at once; the refusal is in the audit log as
        // the login followed by its logout.
        store.logout(session).await.map_err(store_failure)?;
        return Err(Failure::new(
            Code::NotPermitted,
            format!("a {role} may not {action}"),
        ));
    }
    Ok(session)
}

/// The `station user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create the first administrator of a new station (only once).
    CreateAdmin(CreateAdminArgs),
    /// An administrator adds a clerk or a supervisor.
    Add(AddArgs),
}

#[derive(Debug, Args)]
pub struct CreateAdminArgs {
    #[arg(long)]
    pub name: String,
    /// Read the new password from the first line of standard input.
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum NewRole {
    Clerk,
    Supervisor,
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The administrator adding the user; the password comes from
    /// STATION_ADMIN_PASSWORD, or else the line of standard input after
    /// the new user's password.
    #[arg(long)]
    pub admin: String,
    #[arg(long)]
    pub name: String,
    #[arg(long, value_enum)]
    pub role: NewRole,
    /// Read the new user's password from the first line of standard input.
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

pub async fn run(command: UserCommand, paths: &StationPaths) -> Result<Value, Failure> {
    let store = open_store(paths).await?;
    let mut passwords = Passwords::default();
    let result = match command {
        UserCommand::CreateAdmin(args) => {
            let password = passwords.get(None, "the new administrator's password")?;
            store
                .create_first_administrator(&args.name, &password)
                .await
                .map_err(store_failure)
        }
        UserCommand::Add(args) => {
            let password = passwords.get(None, "the new user's password")?;
            let admin_password = passwords.get(
                Some("STATION_ADMIN_PASSWORD"),
                "the administrator's password",
            )?;
            let admin = sign_in(
                &store,
                &args.admin,
                &admin_password,
                "manage users",
                Role::can_administer,
            )
            .await?;
            let role = match args.role {
                NewRole::Clerk => Role::Clerk,
                NewRole::Supervisor => Role::Supervisor,
            };
            let created = store
                .create_user(admin.user_id(), &args.name, &password, role)
                .await
                .map_err(store_failure);
            store.logout(admin).await.map_err(store_failure)?;
            created
        }
    };
    store.close().await;
    let user = result?;
    Ok(json!({ "user": { "id": user.id, "name": user.username, "role": user.role } }))
}
