//! Builds the application (database, signing key, HTTP server, worker)
//! and runs it until it is told to stop.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::sync::{watch, Notify};

use crate::api_key::KeyHasher;
use crate::config::Settings;
use crate::db::{self, ConnOptions, Db};
use crate::http::auth::Auth;
use crate::http::limits::ClientLimiter;
use crate::http::{self, AppState};
use crate::ids::random_id;
use crate::integrations::approvers::{ApproversClient, ApproversSource};
use crate::integrations::github::GithubApp;
use crate::integrations::outbound::Outbound;
use crate::integrations::slack::Slack;
use crate::mailer::Mailer;
use crate::queue::{Registry, Runner};
use crate::releases::{self, Releases};
use crate::sealed::Sealer;
use crate::token::TokenKeys;

pub struct Application {
    port: u16,
    server: Server,
    runner: Runner,
    /// Followers of deployment logs, ended at shutdown.
    log_hub: crate::deployments::LogHub,
    /// PostgreSQL's LISTEN for other replicas' log news.
    log_listener: Option<db::notify::StopListening>,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let backend = db::Backend::from_url(&settings.database_url);
        let size = settings
            .db_pool_size
            .unwrap_or_else(|| backend.default_pool_size());
        let (url, wait) = (settings.database_url.clone(), settings.db_timeout);
        let options = ConnOptions {
            lock_wait: wait,
            synchronous_full: settings.sqlite_synchronous_full,
        };
        // Two pools: requests never wait for a connection behind the
        // worker's jobs, however many of those are running. On SQLite they
        // share the process's one writer.
        let (db, jobs_db) = tokio::task::spawn_blocking(move || {
            db::migrate(&url)?;
            let requests = Db::open(&url, size, wait, options, None)?;
            let jobs = Db::open(&url, size, wait, options, requests.writer())?;
            Ok::<_, db::DbError>((requests, jobs))
        })
        .await?
        .context("opening the database")?;
        let sealer = settings.sealer();
        let (current, previous) = signing_secrets(&db, &settings, &sealer).await?;
        let tokens = TokenKeys::with_previous(&current, &previous);
        let keys = KeyHasher::new(pepper(&db, &sealer).await?.as_bytes());
        // The one outbound client: approvers, GitHub, webhooks, Azure DevOps.
        let outbound = Outbound::new(&settings.outbound()).context("building the HTTP client")?;
        let mailer = Mailer::new(&settings.mail())?;
        let wake = Arc::new(Notify::new());
        // Installed before anything counts.
        crate::metrics::handle();
        let github = match &settings.github {
            Some(g) => Some(Arc::new(
                GithubApp::new(g, outbound.clone()).map_err(anyhow::Error::msg)?,
            )),
            None => None,
        };
        let slack = settings
            .slack
            .as_ref()
            .map(|s| Arc::new(Slack::new(s, outbound.clone())));
        let policies = Arc::new(settings.policies.clone());

        let listener = TcpListener::bind(&settings.listen)
            .with_context(|| format!("binding {}", settings.listen))?;
        let port = listener.local_addr()?.port();
        let http_workers = settings
            .http_workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let q = &settings.queue;
        tracing::info!(
            listen = %listener.local_addr()?,
            database = ?backend,
            mail = %mailer.describe(),
            approvers = describe(&settings.approvers),
            project_policies = settings.policies.project_count(),
            public_url = %settings.public_url,
            // The tuning in effect, in one field (make bench reports it).
            settings = ?format!(
                "pool={size} http_workers={http_workers} job_concurrency={} job_lease_ms={} \
                 job_poll_ms={} job_timeout_ms={} shutdown_timeout_s={} db_timeout_ms={}{}",
                q.concurrency,
                q.lease.as_millis(),
                q.poll_interval.as_millis(),
                q.job_timeout.as_millis(),
                q.shutdown_timeout.as_secs(),
                wait.as_millis(),
                match backend {
                    db::Backend::Sqlite => format!(
                        " sqlite_synchronous={}",
                        if options.synchronous_full { "full" } else { "normal" }
                    ),
                    db::Backend::Postgresql => String::new(),
                }
            ),
            api_keys = if settings.require_api_key { "required" } else { "off" },
            "greenlight starting"
        );
        for line in &settings.deprecations {
            tracing::warn!("{line}");
        }
        if !settings.require_api_key && beyond_loopback(&listener.local_addr()?) {
            tracing::warn!(
                "API keys are off and Greenlight listens beyond loopback: anyone who can reach it \
                 can create releases (and send their emails) and read every release; set \
                 GREENLIGHT_REQUIRE_API_KEY=true and create keys with `greenlight api-key create`"
            );
        }
        // Log followers hear of appends here at once; of other replicas'
        // by PostgreSQL's LISTEN, or on SQLite by reading on a short beat.
        let log_hub = crate::deployments::LogHub::new(match backend {
            db::Backend::Sqlite => std::time::Duration::from_millis(100),
            // LISTEN brings the news; this only bounds a lost one.
            db::Backend::Postgresql => std::time::Duration::from_secs(30),
        });
        let log_listener = match backend {
            db::Backend::Postgresql => {
                let hub = log_hub.clone();
                Some(
                    db::notify::listen(
                        settings.database_url.clone(),
                        crate::deployments::follow::CHANNEL,
                        move |payload| hub.heard(payload),
                    )
                    .context("starting the log listener")?,
                )
            }
            db::Backend::Sqlite => None,
        };
        let effects = crate::deployments::Effects {
            hub: log_hub.clone(),
            policies: Some(policies.clone()),
            max_attempts: settings.queue.max_attempts,
            wake: Some(wake.clone()),
            queued: Default::default(),
        };
        // Gated deployments follow their release's decision.
        crate::deployments::gate::register(effects.clone());
        let deployment_jobs = Arc::new(crate::deployments::jobs::JobContext {
            db: jobs_db.clone(),
            github: github.clone(),
            policies: policies.clone(),
            outbound: outbound.clone(),
            public_url: settings.public_url.clone(),
            max_attempts: settings.queue.max_attempts,
            effects: effects.clone(),
        });
        let ctx = Arc::new(releases::jobs::JobContext {
            db: jobs_db.clone(),
            approvers: ApproversClient::new(outbound.clone()),
            policies: policies.clone(),
            mailer,
            tokens: tokens.clone(),
            max_attempts: settings.queue.max_attempts,
            wake: wake.clone(),
            github: github.clone(),
            github_redelivery_interval: settings.github_redelivery_interval,
            slack: slack.clone(),
            outbound: outbound.clone(),
            max_approvers: settings.max_approvers,
            sealer: sealer.clone(),
        });
        releases::jobs::start_recurring(&ctx)
            .await
            .context("queueing the recurring jobs")?;
        // Each wing registers its job kinds with the context they share.
        let registry = releases::jobs::register(Registry::default(), ctx);
        let stack_released = Arc::new(Notify::new());
        let registry = crate::stacks::jobs::register(
            registry,
            Arc::new(crate::stacks::jobs::JobContext {
                db: jobs_db.clone(),
                released: stack_released.clone(),
                max_attempts: settings.queue.max_attempts,
                policies: policies.clone(),
                outbound: outbound.clone(),
            }),
        );
        let registry = crate::deployments::jobs::register(registry, deployment_jobs);
        let releases = Releases::new(
            db.clone(),
            policies.clone(),
            settings.queue.max_attempts,
            wake.clone(),
            sealer.clone(),
        );
        let state = web::Data::new(AppState {
            releases: releases.clone(),
            deployments: crate::deployments::Deployments::new(
                db.clone(),
                settings.deployment_log_limit,
            )
            .with_runners(
                settings.runner_lease,
                settings.queue.max_attempts,
                sealer.clone(),
            )
            .with_effects(effects)
            .with_gate(releases, policies.clone()),
            inventory: crate::inventory::Inventory::new(db.clone()),
            stacks: crate::stacks::Stacks::new(
                db.clone(),
                policies.clone(),
                settings.queue.max_attempts,
                stack_released,
            ),
            public_url: settings.public_url.clone(),
            variables: crate::environments::Variables::new(db.clone(), sealer.clone()),
            db,
            tokens: tokens.clone(),
            policies: policies.clone(),
            wake: wake.clone(),
            auth: Auth {
                required: settings.require_api_key,
                hasher: keys,
                failures: settings
                    .auth_failure_limit
                    .and_then(ClientLimiter::per_minute),
            },
            approval_limit: settings
                .approval_rate_limit
                .and_then(ClientLimiter::per_minute),
            public_origin: url::Url::parse(&settings.public_url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default(),
            allowed_hosts: http::guard::AllowedHosts::new(
                &settings.public_url,
                &settings.listen,
                &settings.allowed_hosts,
            ),
            body_timeout: settings.body_timeout,
            github: github.clone(),
            slack,
            azure_devops_hosts: settings.azure_devops_hosts.clone(),
            job_kinds: registry.kinds(),
            github_projects: settings.github_projects.clone(),
        });
        forget_idle_clients(Arc::downgrade(&state.clone().into_inner()));
        let server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(http::guard::middleware))
                // Every line of a request carries its id; this writes the
                // access line too. (The last wrapped runs first.)
                .wrap(actix_web::middleware::from_fn(http::request_id::middleware))
                .app_data(state.clone())
                .configure(http::routes)
        })
        // Long polls ask whether their client is still there.
        .on_connect(http::runners::remember_socket)
        .listen(listener)?
        .workers(http_workers)
        // actix counts connections per worker.
        .max_connections(settings.max_connections.div_ceil(http_workers))
        // Signals are ours (see `run_until_stopped`): the worker must stop
        // claiming at the signal, not after the server has drained.
        .disable_signals()
        // Requests in flight get what the jobs get: both stop side by side.
        .shutdown_timeout(settings.queue.drain_budget().as_secs())
        .run();
        Ok(Self {
            port,
            server,
            runner: Runner::new(
                jobs_db,
                registry,
                settings.queue.clone(),
                wake,
                settings.redactor(),
            ),
            log_hub,
            log_listener,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves and works until SIGINT or SIGTERM. Then, at once and side by
    /// side: the worker stops claiming, lets running jobs finish (handing
    /// back what is still running at the shutdown timeout), and the server
    /// stops accepting and answers the requests in flight.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let worker = tokio::spawn(self.runner.run(stopped));
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        let served = tokio::select! {
            served = &mut server => Some(served),
            () = signalled() => None,
        };
        tracing::info!("stopping: no new jobs; finishing requests and running jobs");
        let _ = stop.send(true);
        // A log follower's stream would hold the server's drain open.
        self.log_hub.stop();
        if let Some(listener) = &self.log_listener {
            listener.stop();
        }
        let served = match served {
            Some(served) => served,
            None => {
                stop_server(handle).await;
                server.await
            }
        };
        if worker.await.is_err() {
            tracing::error!("the job runner panicked");
        }
        tracing::info!("stopped");
        served.context("HTTP server task")?.context("HTTP server")
    }
}

async fn stop_server(handle: ServerHandle) {
    handle.stop(true).await;
}

/// SIGTERM (Kubernetes, systemd) or SIGINT (Ctrl-C).
async fn signalled() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Once a minute, the rate limiters forget clients back to a full
/// allowance, so their memory follows the clients of the last minute.
fn forget_idle_clients(state: std::sync::Weak<AppState>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            match state.upgrade() {
                Some(state) => state.forget_idle_clients(),
                None => return,
            }
        }
    });
}

/// Whether the service answers beyond this machine.
fn beyond_loopback(listen: &std::net::SocketAddr) -> bool {
    !listen.ip().is_loopback()
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

/// The secret that signs and those that still verify. The signer is
/// `GREENLIGHT_SECRET`, or a secret generated once and kept in the database
/// (sealed, with `GREENLIGHT_ENCRYPTION_KEY`) so that every replica (and
/// every restart) signs alike. A generated secret keeps verifying after
/// `GREENLIGHT_SECRET` is set, so moving off the zero-setup default breaks
/// no link, until `greenlight retire-generated-secret` removes it.
async fn signing_secrets(
    db: &Db,
    settings: &Settings,
    sealer: &Sealer,
) -> anyhow::Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let mut previous: Vec<Vec<u8>> = settings
        .secret_previous
        .iter()
        .map(|s| s.expose_secret().as_bytes().to_vec())
        .collect();
    if let Some(secret) = &settings.secret {
        let generated = db
            .read(|conn| Ok(db::settings::get(conn, db::settings::SIGNING_SECRET)?))
            .await
            .context("reading the generated signing secret")?
            .map(|stored| sealer.open(&stored))
            .transpose()
            .context("opening the generated signing secret")?;
        previous.extend(generated.map(String::into_bytes));
        return Ok((secret.expose_secret().as_bytes().to_vec(), previous));
    }
    let generated = generated_once(
        db,
        sealer,
        db::settings::SIGNING_SECRET,
        format!("{}{}", random_id(), random_id()),
    )
    .await
    .context("reading the signing secret")?;
    Ok((generated.into_bytes(), previous))
}

/// This installation's API key pepper (see `api_key`), generated once.
async fn pepper(db: &Db, sealer: &Sealer) -> anyhow::Result<String> {
    generated_once(
        db,
        sealer,
        crate::api_key::PEPPER_SETTING,
        crate::api_key::new_pepper(),
    )
    .await
    .context("reading the API key pepper")
}

/// A secret generated once and kept in the settings table: `candidate` if
/// none is stored yet (the first replica's insert wins), sealed when a key
/// is set; one stored in clear (or under the previous key) is sealed again
/// under the current key.
async fn generated_once(
    db: &Db,
    sealer: &Sealer,
    name: &'static str,
    candidate: String,
) -> anyhow::Result<String> {
    let sealed = sealer.seal(&candidate);
    let stored = db
        .write(move |conn| Ok(db::settings::get_or_insert(conn, name, &sealed)?))
        .await?;
    let plain = sealer.open(&stored)?;
    if sealer.needs_reseal(&stored) {
        let resealed = sealer.seal(&plain);
        db.write(move |conn| Ok(db::settings::set(conn, name, &resealed)?))
            .await?;
        tracing::info!(setting = name, "sealed under GREENLIGHT_ENCRYPTION_KEY");
    }
    Ok(plain)
}
