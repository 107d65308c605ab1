//! Builds the application (database, signing key, HTTP server, worker)
//! and runs it until it is told to stop.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::Logger;
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tokio::sync::{watch, Notify};

use crate::approvers::ApproversClient;
use crate::config::{ApproversSource, Settings};
use crate::db::{self, Pool};
use crate::http::{self, AppState};
use crate::mailer::Mailer;
use crate::token::TokenKeys;
use crate::worker::{self, random_id, JobContext};

/// How long a stopping process waits for running jobs; whatever is still
/// running after that is claimed again when its lease runs out.
const WORKER_STOP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Application {
    port: u16,
    server: Server,
    jobs: Arc<JobContext>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let backend = db::Backend::from_url(&settings.database_url);
        let size = settings
            .db_pool_size
            .unwrap_or_else(|| backend.default_pool_size());
        let (url, timeout) = (settings.database_url.clone(), settings.db_timeout);
        // Two pools: requests never wait for a connection behind the
        // worker's jobs, however many of those are running.
        let (pool, jobs_pool) = tokio::task::spawn_blocking(move || {
            db::migrate(&url)?;
            Ok::<_, db::DbError>((
                db::open_pool(&url, size, timeout)?,
                db::open_pool(&url, size, timeout)?,
            ))
        })
        .await?
        .context("opening the database")?;
        let tokens = TokenKeys::new(&signing_secret(&pool, &settings).await?);
        let approvers = ApproversClient::new(settings.approvers.clone(), settings.http_timeout)
            .context("building the HTTP client")?;
        let mailer = Mailer::new(&settings)?;
        let wake = Arc::new(Notify::new());

        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        tracing::info!(
            listen = %listener.local_addr()?,
            database = ?backend,
            pool = size,
            mail = %mailer.describe(),
            approvers = describe(&settings.approvers),
            public_url = %settings.public_url,
            "greenlight starting"
        );
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            tokens: tokens.clone(),
            approval_mode: settings.approval_mode,
            decision_timeout: settings.decision_timeout,
            max_attempts: settings.queue.max_attempts,
            wake: wake.clone(),
        });
        let mut server = HttpServer::new(move || {
            App::new()
                // The path only: approval links carry their token in the query.
                .wrap(
                    Logger::new("%a \"%{method}xi %U\" %s %b %Dms")
                        .custom_request_replace("method", |req| req.method().to_string()),
                )
                .app_data(state.clone())
                .configure(http::routes)
        })
        .listen(listener)?
        .shutdown_timeout(30);
        if let Some(n) = settings.http_workers {
            server = server.workers(n);
        }
        let jobs = Arc::new(JobContext {
            pool: jobs_pool,
            approvers,
            mailer,
            tokens,
            queue: settings.queue.clone(),
            wake,
        });
        Ok(Self {
            port,
            server: server.run(),
            jobs,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves and works until SIGINT or SIGTERM: the server finishes the
    /// requests in flight, then the worker finishes its running jobs.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let worker = tokio::spawn(worker::run(self.jobs, stopped));
        let served = self.server.await;
        tracing::info!("HTTP server stopped; finishing running jobs");
        let _ = stop.send(true);
        if tokio::time::timeout(WORKER_STOP_TIMEOUT, worker)
            .await
            .is_err()
        {
            tracing::warn!("jobs still running at exit; they run again when their lease expires");
        }
        served.context("HTTP server")
    }
}

fn describe(source: &ApproversSource) -> String {
    match source {
        // The URL may carry credentials: name its kind only.
        ApproversSource::Http(_) => "url".to_owned(),
        ApproversSource::Static(list) => format!("static list of {}", list.len()),
        ApproversSource::None => {
            tracing::warn!("no approvers source configured: every release will fail until GREENLIGHT_APPROVERS_URL or GREENLIGHT_APPROVERS is set");
            "none".to_owned()
        }
    }
}

/// `GREENLIGHT_SECRET`, or a secret generated once and kept in the
/// database so that every replica (and every restart) signs alike.
async fn signing_secret(pool: &Pool, settings: &Settings) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &settings.secret {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    let candidate = format!("{}{}", random_id(), random_id());
    let stored = db::run(pool, move |conn| {
        Ok(db::settings::get_or_insert(
            conn,
            "signing_secret",
            &candidate,
        )?)
    })
    .await
    .context("reading the signing secret")?;
    Ok(stored.into_bytes())
}
