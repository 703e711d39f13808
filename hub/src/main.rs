//! `hub`: the reference identity platform.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use hub::{FaceModels, Hub, HubConfig, HubDb};

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
        /// The hub's database, e.g. sqlite:hub.sqlite3 (created if missing).
        #[arg(long, env = "HUB_DATABASE_URL")]
        db: String,
        /// Directory of trusted CSCA certificates and master lists for
        /// Passive Authentication; without it no document is `valid`.
        #[arg(long)]
        trust_store: Option<PathBuf>,
        /// Face model catalogue directory (default: the bundled models).
        #[arg(long)]
        models: Option<PathBuf>,
        /// Serve HTTPS with this certificate chain (PEM); stations then
        /// upload with the client certificate they registered.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The private key of --tls-cert (PEM, PKCS#8, PKCS#1 or SEC1).
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Onboarding tokens for new stations.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Packets received.
    Packets {
        #[command(subcommand)]
        command: PacketsCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a one-time token and print it (it is shown only this once).
    Create {
        #[arg(long, env = "HUB_DATABASE_URL")]
        db: String,
        /// Hours until the token expires.
        #[arg(long, default_value_t = 24)]
        ttl_hours: u64,
    },
}

#[derive(Debug, Subcommand)]
enum PacketsCommand {
    /// List every packet received, oldest first (metadata and verdicts only).
    List {
        #[arg(long, env = "HUB_DATABASE_URL")]
        db: String,
        /// Print one JSON object: `{"packets": [...]}`.
        #[arg(long)]
        json: bool,
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
        Command::Serve {
            listen,
            db,
            trust_store,
            models,
            tls_cert,
            tls_key,
        } => {
            let tls = tls_cert.zip(tls_key);
            serve(listen, db, trust_store, models, tls).await
        }
        Command::Token {
            command: TokenCommand::Create { db, ttl_hours },
        } => {
            let db = open_db(&db).await?;
            let ttl = Duration::from_secs(ttl_hours.saturating_mul(3600));
            let token = hub::create_token(&db, ttl)
                .await
                .context("cannot store the token")?;
            println!("{token}");
            db.close().await;
            Ok(())
        }
        Command::Packets {
            command: PacketsCommand::List { db, json },
        } => {
            let db = open_db(&db).await?;
            let rows = db.packets().await.context("cannot read the packets")?;
            let packets = rows
                .iter()
                .map(hub::packet_status)
                .collect::<Result<Vec<_>, _>>()
                .context("a stored packet is unreadable")?;
            if json {
                println!("{}", serde_json::json!({ "packets": packets }));
            } else {
                for p in &packets {
                    println!(
                        "{}  {}  {}  {}",
                        p.packet_id,
                        p.station_id,
                        p.status,
                        p.reason.as_deref().unwrap_or("")
                    );
                }
            }
            db.close().await;
            Ok(())
        }
    }
}

async fn open_db(url: &str) -> anyhow::Result<HubDb> {
    HubDb::open(url)
        .await
        .with_context(|| format!("cannot open the hub database `{url}`"))
}

async fn serve(
    listen: String,
    db: String,
    trust_store: Option<PathBuf>,
    models: Option<PathBuf>,
    tls: Option<(PathBuf, PathBuf)>,
) -> anyhow::Result<()> {
    let hub = Hub::open(HubConfig {
        db_url: db,
        trust_store,
        face_models: models.map_or(FaceModels::Bundled, FaceModels::Dir),
    })
    .await
    .context("cannot start the hub")?;
    let tls = tls
        .map(|(cert, key)| hub::tls::server_config(&cert, &key))
        .transpose()
        .context("cannot set up TLS")?;
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // The bound address on stdout lets scripts start the hub on port 0.
    println!("listening on {scheme}://{addr}");
    tracing::info!(%addr, scheme, "hub serving");
    {
        let hub = hub.clone();
        tokio::spawn(async move { hub.preload_face_models().await });
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match tls {
        Some(config) => hub::serve_tls(listener, hub, config, shutdown).await,
        None => hub::serve(listener, hub, shutdown).await,
    }
    .context("the server failed")
}
