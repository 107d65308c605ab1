use std::process::ExitCode;

use greenlight::config::Settings;
use greenlight::startup::Application;
use tracing_subscriber::EnvFilter;

const USAGE: &str = "\
Greenlight: a release approval gate for CI/CD pipelines

Usage: greenlight [serve|migrate]

  serve     migrate the database, then serve (the default)
  migrate   migrate the database and exit

Configuration comes from environment variables (or greenlight.toml);
see the README for the list.";

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let command = std::env::args().nth(1);
    let result = match command.as_deref() {
        None | Some("serve") => serve().await,
        Some("migrate") => migrate().await,
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some("-V" | "--version") => {
            println!("greenlight {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("unknown command {other:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    Application::build(settings)
        .await?
        .run_until_stopped()
        .await
}

async fn migrate() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let url = settings.database_url.clone();
    tokio::task::spawn_blocking(move || greenlight::db::migrate(&url)).await??;
    tracing::info!("database migrated");
    Ok(())
}
