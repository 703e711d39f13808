//! `station card`: identity-document chips through the real PC/SC stack.
//!
//! - [`read`]: open a chip in a PC/SC reader (PACE when offered, else BAC),
//!   read it, and check it (Passive, Active and Chip Authentication).
//! - [`simulate`]: put a virtual chip made from a document directory into
//!   pcscd's vpcd reader, so the whole stack runs without hardware.
//! - [`specimen`]: write a self-consistent virtual document with a test PKI.
//! - [`watch`]: the readers and their cards as they change, for the window.
//!
//! Every failure is a catalogue [`Failure`]; chip data never reaches logs.

pub mod read;
pub mod simulate;
pub mod specimen;
pub mod watch;

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::Value;

use crate::failure::{Code, Failure};
use crate::paths::StationPaths;

pub use read::ReadArgs;
pub use simulate::SimulateArgs;
pub use specimen::SpecimenArgs;

/// The `station card` subcommands.
// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum CardCommand {
    /// Read a document's chip: access, files, Passive/Active/Chip Authentication.
    Read(ReadArgs),
    /// Serve a virtual document into pcscd's vpcd reader until interrupted.
    Simulate(SimulateArgs),
    /// Write a self-consistent virtual document (LDS files, test PKI, chip keys).
    Specimen(SpecimenArgs),
}

/// Where the document a simulator serves comes from.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct DocumentSource {
    /// A directory written by `station card specimen` (LDS files, profile.toml, keys).
    #[arg(long)]
    pub profile: Option<PathBuf>,
    /// A directory of raw LDS files (COM, DG1…DG16, SOD, CardAccess) made
    /// elsewhere; BAC keys come from DG1's MRZ.
    #[arg(long)]
    pub lds_dir: Option<PathBuf>,
}

/// What a card command produced: its JSON, or nothing more to print
/// because the command printed its object itself (the simulator does so
/// when the card goes in, long before it exits).
#[derive(Debug)]
pub enum Outcome {
    Report(Value),
    AlreadyPrinted,
}

/// Runs one `station card` command. Card I/O blocks, so it runs off the
/// async threads.
pub async fn run(
    command: CardCommand,
    paths: &StationPaths,
    json: bool,
) -> Result<Outcome, Failure> {
    match command {
        CardCommand::Read(args) => {
            let paths = paths.clone();
            blocking(move || read::run(&args, &paths))
                .await
                .map(Outcome::Report)
        }
        CardCommand::Specimen(args) => blocking(move || specimen::run(&args))
            .await
            .map(Outcome::Report),
        CardCommand::Simulate(args) => simulate::run(args, json)
            .await
            .map(|()| Outcome::AlreadyPrinted),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Failure::new(Code::Internal, format!("card task failed: {e}")))?
}

/// Prints a command's one object at once (the process keeps running
/// after it, so stdout is flushed explicitly).
pub(crate) fn emit(value: &Value, json: bool) {
    use std::io::Write;
    let text = if json {
        value.to_string()
    } else {
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    };
    let mut out = std::io::stdout().lock();
    // A closed stdout only loses the report; serving goes on.
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}
