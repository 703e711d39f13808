//! `hub`: the reference identity platform.

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "hub",
    version,
    about = "Reference identity platform for enrollment stations"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the platform API.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8443.
        #[arg(long, default_value = "127.0.0.1:8443")]
        listen: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "hub=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve { listen } => {
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let addr = listener.local_addr()?;
            // The bound address on stdout lets scripts start the hub on port 0.
            println!("listening on http://{addr}");
            tracing::info!(%addr, "hub serving");
            hub::serve(listener, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("the server failed")?;
        }
    }
    Ok(())
}
