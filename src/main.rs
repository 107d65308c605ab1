use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use greenlight::config::{LogFormat, Settings};
use greenlight::startup::Application;
use tracing_subscriber::EnvFilter;

/// Greenlight: a release approval gate for CI/CD pipelines.
///
/// Configuration comes from environment variables, or the same keys in
/// greenlight.toml (or the file named by GREENLIGHT_CONFIG); the README
/// lists them all. `greenlight config` shows what is in effect.
#[derive(Debug, Parser)]
#[command(name = "greenlight", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate the database, then serve the API and run the jobs (the
    /// default). Stops gracefully on SIGTERM or Ctrl-C.
    Serve,
    /// Migrate the database and exit (run it before starting replicas, or
    /// let each `serve` do it).
    Migrate,
    /// Print the configuration in effect, secrets masked. A wrong value
    /// fails, naming the variable.
    Config,
    /// Manage API keys (needed when GREENLIGHT_REQUIRE_API_KEY=true).
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Remove the signing secret Greenlight generated before
    /// GREENLIGHT_SECRET was set. Until then it still verifies the links it
    /// signed; afterwards they stop working (on each running replica once it
    /// restarts). Needs GREENLIGHT_SECRET.
    RetireGeneratedSecret,
    /// Seal every credential kept in the database (the generated secrets,
    /// Azure DevOps AuthTokens) under GREENLIGHT_ENCRYPTION_KEY, opening
    /// what GREENLIGHT_ENCRYPTION_KEY_PREVIOUS (or no key) wrote. Run it
    /// after setting or changing the key, then drop the previous one.
    RotateEncryptionKey,
    /// A project's variables (and an environment's), on the database as
    /// the API keeps them; a value is read from standard input, so that it
    /// stays out of shell history.
    #[command(subcommand)]
    Vars(VarsCommand),
    /// Pull deployments from a Greenlight and run a command for each, with
    /// the deployment's facts and variables in its environment
    /// (GREENLIGHT_DEPLOYMENT_ID, REPOSITORY_URL, COMMIT_SHA, REF,
    /// ENVIRONMENT, STACK_NAME, VERSION); its output becomes the log, its
    /// exit status the deployment's (`success`, `failure`). SIGTERM or
    /// Ctrl-C: no more claims; a running command may finish within --grace.
    Runner(RunnerArgs),
}

#[derive(Debug, Subcommand)]
enum VarsCommand {
    /// Set NAME to the value on standard input (one trailing newline
    /// dropped); `--secret` seals it (needs GREENLIGHT_ENCRYPTION_KEY).
    Set {
        #[command(flatten)]
        place: VarsPlace,
        name: String,
        #[arg(long)]
        secret: bool,
    },
    /// Hide the project's NAME in one environment (needs --environment).
    Unset {
        #[command(flatten)]
        place: VarsPlace,
        name: String,
    },
    /// Remove the entry NAME of the project's level (or the environment's).
    Delete {
        #[command(flatten)]
        place: VarsPlace,
        name: String,
    },
    /// List the project's entries, or an environment's merged variables;
    /// secrets show as `(secret)`.
    List {
        #[command(flatten)]
        place: VarsPlace,
    },
}

#[derive(Debug, Args)]
struct VarsPlace {
    #[arg(long, value_name = "TEAM_PROJECT")]
    project: String,
    #[arg(long, value_name = "ENVIRONMENT")]
    environment: Option<String>,
}

#[derive(Debug, Args)]
struct RunnerArgs {
    /// Greenlight's URL (e.g. https://greenlight.example.com).
    #[arg(long, env = "GREENLIGHT_URL")]
    url: String,
    /// An API key allowed to deploy there; better given as
    /// GREENLIGHT_RUNNER_KEY, which `ps` does not show.
    #[arg(long, env = "GREENLIGHT_RUNNER_KEY", hide_env_values = true, value_parser = secret)]
    key: Option<secrecy::SecretString>,
    /// An environment this runner deploys to (repeat for several).
    #[arg(long = "environment", value_name = "ENVIRONMENT", required = true)]
    environments: Vec<String>,
    /// Only this project's deployments (repeat for several; a project
    /// key's own project by default).
    #[arg(long = "team-project", value_name = "TEAM_PROJECT")]
    team_projects: Vec<String>,
    /// Seconds each claim waits for a deployment (0 to 60).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=60))]
    wait: u64,
    /// After SIGTERM, how long a running command may take to finish before
    /// it is stopped and its deployment posted `error`.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    grace: std::time::Duration,
    /// The command and its arguments (no shell: write `sh -c '...'` for one).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

fn secret(text: &str) -> Result<secrecy::SecretString, std::convert::Infallible> {
    Ok(secrecy::SecretString::from(text.to_owned()))
}

#[derive(Debug, Subcommand)]
enum ApiKeyCommand {
    /// Create a key and print it once on standard output. Only its hash is
    /// kept: store it in your pipeline's secrets now.
    Create(CreateArgs),
    /// List the keys: id, project, created, last used, revoked.
    List,
    /// Revoke a key by its id: refused from the next request on.
    Revoke {
        /// The key's id, as `api-key list` shows it.
        id: i64,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct CreateArgs {
    /// A key for this project's pipelines: its releases only.
    #[arg(long, value_name = "TEAM_PROJECT")]
    project: Option<String>,
    /// An operator's key: every project, the list, the events and the
    /// dashboard.
    #[arg(long)]
    admin: bool,
}

/// Logs on standard error (standard output carries commands' results),
/// filtered by `RUST_LOG` (default `info`).
fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    greenlight::logs::init(format == LogFormat::Json, filter);
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if !matches!(command, Command::Serve) {
        init_logs(LogFormat::Text);
    }
    let result = match command {
        Command::Serve => serve().await,
        Command::Migrate => migrate().await,
        Command::Config => config(),
        Command::ApiKey(command) => api_key(command).await,
        Command::RetireGeneratedSecret => retire_generated_secret().await,
        Command::RotateEncryptionKey => rotate_encryption_key().await,
        Command::Vars(command) => vars(command).await,
        Command::Runner(args) => {
            greenlight::runner_cli::run(greenlight::runner_cli::RunnerOptions {
                url: args.url,
                key: args.key,
                environments: args.environments,
                team_projects: args.team_projects,
                wait: args.wait,
                grace: args.grace,
                command: args.command,
            })
            .await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("greenlight: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    init_logs(settings.log_format);
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

fn config() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let lines = settings.lines();
    let width = lines.iter().map(|(k, _, _)| k.len()).max().unwrap_or(0);
    for (key, value, origin) in &lines {
        println!("{key:<width$} = {value}    # {origin}");
    }
    Ok(())
}

async fn api_key(command: ApiKeyCommand) -> anyhow::Result<()> {
    use greenlight::admin;
    let settings = Settings::load()?;
    let (url, sealer) = (settings.database_url.clone(), settings.sealer());
    tokio::task::spawn_blocking(move || match command {
        ApiKeyCommand::Create(args) => {
            let project = match &args.project {
                Some(p) => Some(
                    greenlight::domain::ReleaseKey::parse(p, None, "-")
                        .map_err(|_| anyhow::anyhow!("--project must be a team project name (1 to 256 characters, no control characters)"))?
                        .team_project()
                        .to_owned(),
                ),
                None => None,
            };
            let (id, key) = admin::create_key(&url, &sealer, project.as_deref())?;
            println!("{key}");
            eprintln!(
                "API key {id} created for {}; it is shown only this once.",
                project.map_or_else(|| "every project (admin)".to_owned(), |p| format!("project {p}"))
            );
            Ok(())
        }
        ApiKeyCommand::List => {
            let keys = admin::list_keys(&url)?;
            println!("{:<6} {:<24} {:<20} {:<20} REVOKED", "ID", "PROJECT", "CREATED", "LAST USED");
            let time = |t: Option<chrono::NaiveDateTime>| {
                t.map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            };
            for k in keys {
                println!(
                    "{:<6} {:<24} {:<20} {:<20} {}",
                    k.id,
                    k.team_project.as_deref().unwrap_or("(admin)"),
                    time(Some(k.created_at)),
                    time(k.last_used_at),
                    time(k.revoked_at),
                );
            }
            Ok(())
        }
        ApiKeyCommand::Revoke { id } => {
            if admin::revoke_key(&url, id)? {
                eprintln!("API key {id} revoked.");
                Ok(())
            } else {
                anyhow::bail!("no API key {id}, or it was revoked already")
            }
        }
    })
    .await?
}

async fn retire_generated_secret() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    anyhow::ensure!(
        settings.secret.is_some(),
        "GREENLIGHT_SECRET is not set: the generated secret is the one that signs; set GREENLIGHT_SECRET first (links the generated secret signed keep working until this command)"
    );
    let url = settings.database_url.clone();
    if tokio::task::spawn_blocking(move || greenlight::admin::retire_generated_secret(&url))
        .await??
    {
        eprintln!("The generated signing secret is removed: the links it signed stop working once each replica restarts.");
    } else {
        eprintln!("There is no generated signing secret (nothing to retire).");
    }
    Ok(())
}

async fn rotate_encryption_key() -> anyhow::Result<()> {
    let settings = Settings::load()?;
    let (url, sealer) = (settings.database_url.clone(), settings.sealer());
    let resealed = tokio::task::spawn_blocking(move || {
        greenlight::admin::rotate_encryption_key(&url, &sealer)
    })
    .await??;
    eprintln!("{resealed} stored credentials sealed under GREENLIGHT_ENCRYPTION_KEY.");
    Ok(())
}

async fn vars(command: VarsCommand) -> anyhow::Result<()> {
    use greenlight::admin::{self, VarsChange};
    let settings = Settings::load()?;
    let (url, sealer) = (settings.database_url.clone(), settings.sealer());
    let (place, name, change) = match command {
        VarsCommand::List { place } => {
            let lines = tokio::task::spawn_blocking(move || {
                admin::list_variables(&url, &place.project, place.environment.as_deref())
            })
            .await??;
            for [a, b, c] in lines {
                println!("{a}\t{b}\t{c}");
            }
            return Ok(());
        }
        VarsCommand::Set {
            place,
            name,
            secret,
        } => {
            let mut value = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut value)?;
            // `echo v |` and a here-string add one newline.
            if value.ends_with('\n') {
                value.pop();
                if value.ends_with('\r') {
                    value.pop();
                }
            }
            (place, name, VarsChange::Set { value, secret })
        }
        VarsCommand::Unset { place, name } => (place, name, VarsChange::Unset),
        VarsCommand::Delete { place, name } => (place, name, VarsChange::Delete),
    };
    let shown = name.clone();
    tokio::task::spawn_blocking(move || {
        admin::change_variable(
            &url,
            &sealer,
            &place.project,
            place.environment.as_deref(),
            &name,
            change,
        )
    })
    .await??;
    eprintln!("{shown}: done.");
    Ok(())
}
