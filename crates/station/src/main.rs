//! `station`: the headless face of the station core.
//!
//! With `--json` every command prints exactly one JSON object on stdout: the
//! result (exit 0), or `{"error": {...}}` from the failure catalogue
//! (exit 1; 2 for invalid options). Logs go to stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use station::{Code, DoctorOptions, Failure, StationPaths};

#[derive(Debug, Parser)]
#[command(
    name = "station",
    version,
    about = "Enrollment station: the headless command line"
)]
struct Cli {
    /// Print exactly one JSON object on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// The station's data directory (database, keys, configuration).
    #[arg(long, global = true, env = "STATION_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The models directory with its models.toml.
    #[arg(long, global = true, env = "STATION_MODELS_DIR")]
    models_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Report readers, cards, cameras, microphones, models, database and platform.
    Doctor {
        /// Check this platform address instead of the registered one.
        #[arg(long)]
        platform: Option<String>,
    },
    /// Identity-document chips: read, simulate, make specimens.
    Card {
        #[command(subcommand)]
        command: station::card::CardCommand,
    },
    /// Voice samples: record or load one and check it.
    Voice {
        #[command(subcommand)]
        command: station::voice::VoiceCommand,
    },
    /// Face images: analyse one, and match it against a portrait.
    Face {
        #[command(subcommand)]
        command: station::face::FaceCommand,
    },
    /// This station's id (the platform's, once registered) and public
    /// signing key (made on first use).
    Identity,
    /// Register this station with the platform using a one-time token.
    Register(station::platform::RegisterArgs),
    /// Upload the queued packets: until SIGINT/SIGTERM, or --once.
    Sync(station::sync::SyncArgs),
    /// The platform's public key that packets are sealed to before the
    /// station registers (registration then provides it).
    PlatformKey {
        /// Set it: 64 hexadecimal digits.
        #[arg(long)]
        set: Option<String>,
    },
    /// Staff accounts: the first administrator, clerks and supervisors.
    User {
        #[command(subcommand)]
        command: station::accounts::UserCommand,
    },
    /// One whole enrollment: document, face, voice, approval, sealed packet.
    Enroll(station::enroll::EnrollArgs),
    /// Sealed packets in the outbox.
    Queue {
        #[command(subcommand)]
        command: station::queue::QueueCommand,
    },
    /// The hash-chained audit log.
    Audit {
        #[command(subcommand)]
        command: station::queue::AuditCommand,
    },
}

fn main() -> ExitCode {
    let json = std::env::args().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !json || !e.use_stderr() => e.exit(),
        Err(e) => {
            let first_line = e.to_string().lines().next().unwrap_or_default().to_owned();
            print_json(&Failure::new(Code::InvalidArgument, first_line).to_json());
            return ExitCode::from(2);
        }
    };
    // The uploader logs its progress; other commands only what goes wrong.
    station::init_logging(match cli.command {
        Command::Sync(_) => "warn,station=info,uplink=info",
        _ => "warn",
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return report(json, Failure::new(Code::Internal, e)),
    };
    match runtime.block_on(run(cli)) {
        Ok(value) => {
            if json {
                print_json(&value);
            } else {
                print_human(&value);
            }
            ExitCode::SUCCESS
        }
        Err(failure) => report(json, failure),
    }
}

async fn run(cli: Cli) -> Result<serde_json::Value, Failure> {
    let paths = StationPaths::resolve(cli.data_dir, cli.models_dir)?;
    match cli.command {
        Command::Doctor { platform } => {
            let report = station::doctor::run(
                &paths,
                &DoctorOptions {
                    platform_url: platform,
                },
            )
            .await;
            serde_json::to_value(report).map_err(|e| Failure::new(Code::Internal, e))
        }
        Command::Card { command } => match station::card::run(command, &paths, cli.json).await? {
            station::card::Outcome::Report(value) => Ok(value),
            // The simulator printed its one object when the card went in.
            station::card::Outcome::AlreadyPrinted => std::process::exit(0),
        },
        Command::Voice { command } => {
            // Recording and inference block: off the async threads.
            tokio::task::spawn_blocking(move || station::voice::run(command, &paths))
                .await
                .map_err(|e| Failure::new(Code::Internal, format!("voice task failed: {e}")))?
        }
        Command::Face { command } => {
            tokio::task::spawn_blocking(move || station::face::run(command, &paths))
                .await
                .map_err(|e| Failure::new(Code::Internal, format!("face task failed: {e}")))?
        }
        Command::Identity => station::identity::identity_command(&paths).await,
        Command::Register(args) => station::platform::register(args, &paths).await,
        Command::Sync(args) => station::sync::run(args, &paths).await,
        Command::PlatformKey { set } => {
            station::identity::platform_key_command(&paths, set.as_deref()).await
        }
        Command::User { command } => station::accounts::run(command, &paths).await,
        Command::Enroll(args) => station::enroll::run(args, &paths).await,
        Command::Queue { command } => station::queue::run_queue(command, &paths).await,
        Command::Audit { command } => station::queue::run_audit(command, &paths).await,
    }
}

fn report(json: bool, failure: Failure) -> ExitCode {
    if json {
        print_json(&failure.to_json());
    } else {
        eprintln!("error: {}\nremedy: {}", failure.message, failure.remedy);
    }
    ExitCode::FAILURE
}

fn print_json(value: &serde_json::Value) {
    println!("{value}");
}

fn print_human(value: &serde_json::Value) {
    // The JSON, indented, is the human form too: one source of truth.
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(_) => println!("{value}"),
    }
}
