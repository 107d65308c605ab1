//! The HTTP edge: routes, request parsing, responses.

mod approval;
pub mod auth;
mod deployments;
mod github;
mod github_deployments;
pub mod guard;
mod health;
mod inventory;
pub mod limits;
mod log_stream;
mod metrics;
pub mod openapi;
pub mod problem;
mod release;
pub mod request_id;
pub mod runners;
mod schemas;
mod slack;
mod stacks;
mod ui;
mod ui_deployments;
mod variables;
mod views;

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use tokio::sync::Notify;

use crate::db::Db;
use crate::token::TokenKeys;
use problem::ApiError;

/// What the handlers share.
pub struct AppState {
    pub db: Db,
    /// The releases wing's use cases.
    pub releases: crate::releases::Releases,
    /// The deployments wing's use cases.
    pub deployments: crate::deployments::Deployments,
    /// The inventory wing's use cases.
    pub inventory: crate::inventory::Inventory,
    /// The stacks wing's use cases.
    pub stacks: crate::stacks::Stacks,
    /// The public URL, no trailing `/`: the base of the links we answer
    /// with (a deployment's `logs_url`).
    pub public_url: String,
    pub tokens: TokenKeys,
    /// The policies (the approval page asks them for its mode).
    pub policies: Arc<crate::environments::Policies>,
    /// Wakes this process's worker when a request enqueues a job.
    pub wake: Arc<Notify>,
    pub auth: auth::Auth,
    /// Requests per client on `/approval`.
    pub approval_limit: Option<limits::ClientLimiter>,
    /// `scheme://host[:port]` of the public URL: where our pages post from.
    pub public_origin: String,
    /// The `Host` names requests may be addressed to.
    pub allowed_hosts: guard::AllowedHosts,
    /// The longest a request body may take to arrive.
    pub body_timeout: std::time::Duration,
    /// Hosts an Azure DevOps PlanUrl may name.
    pub azure_devops_hosts: Vec<String>,
    /// The GitHub App, if configured (`POST /integrations/github`).
    pub github: Option<Arc<crate::integrations::github::GithubApp>>,
    /// Slack's Web API, if configured (`POST /integrations/slack`).
    pub slack: Option<Arc<crate::integrations::slack::Slack>>,
    /// Every job kind, for the queue's gauges.
    pub job_kinds: Vec<&'static str>,
    /// GitHub repositories (lowercase `owner/repo`) mapped to a team
    /// project (`GREENLIGHT_GITHUB_PROJECTS`).
    pub github_projects: Vec<(String, String)>,
    /// The environments wing's variables.
    pub variables: crate::environments::Variables,
}

impl AppState {
    /// Forgets rate-limited clients that are back to a full allowance.
    pub fn forget_idle_clients(&self) {
        for limiter in [&self.approval_limit, &self.auth.failures]
            .into_iter()
            .flatten()
        {
            limiter.forget_idle();
        }
    }
}

/// Declares the API's routes once: `SERVED` lists them (the OpenAPI test
/// checks each is documented and answers) and `api_routes` registers them,
/// each path answering 405 to other methods.
macro_rules! routes {
    ($( $path:literal => { $( $method:ident => $handler:path ),+ $(,)? } ),+ $(,)?) => {
        /// Every (method, path template) of the API.
        pub const SERVED: &[(&str, &str)] = &[ $( $( (stringify!($method), $path) ),+ ),+ ];

        fn api_routes(cfg: &mut web::ServiceConfig) {
            $(
                // `Allow` names the path's methods (RFC 9110, 15.5.6).
                let allow = [$( stringify!($method) ),+].map(str::to_ascii_uppercase).join(", ");
                cfg.service(
                    web::resource($path)
                        $( .route(web::$method().to($handler)) )+
                        .default_service(web::to(move || method_not_allowed(allow.clone()))),
                );
            )+
        }
    };
}

routes! {
    "/release" => { post => release::create_or_poll },
    "/approval" => { head => approval::head, get => approval::get, post => approval::post },
    "/releases" => { get => release::list },
    "/releases/{team_project}/{release_id}" => { get => release::show },
    "/releases/{team_project}/{release_id}/events" => { get => release::events },
    "/integrations/github" => { post => github::webhook },
    "/integrations/slack" => { post => slack::interaction },
    "/deployments" => { post => deployments::create, get => deployments::list },
    "/deploy" => { post => deployments::deploy },
    "/deployments/{id}" => { get => deployments::show },
    "/deployments/{id}/statuses" => { post => deployments::post_status },
    "/deployments/{id}/cancel" => { post => deployments::cancel },
    "/deployments/{id}/logs" => { post => deployments::append_log, get => deployments::read_log },
    "/environments" => { get => deployments::environments },
    "/projects/{team_project}/events" => { get => deployments::project_events },
    "/runners/claim" => { post => runners::claim },
    "/deployments/{id}/heartbeat" => { post => runners::heartbeat },
    "/stacks/request" => { post => stacks::request },
    "/stacks/{stackName}/heartbeat" => { post => stacks::heartbeat },
    "/stacks/{stackName}/commit" => { put => stacks::commit },
    "/stacks/{stackName}/release" => { post => stacks::release },
    "/stacks" => { get => stacks::list },
    "/stacks/last" => { delete => stacks::delete_last },
    "/healthz" => { get => health::healthz, head => health::healthz },
    "/readyz" => { get => health::readyz, head => health::readyz },
    "/metrics" => { get => metrics::metrics, head => metrics::metrics },
    "/ui" => { get => ui::list, head => ui::list },
    "/ui/releases/{team_project}/{environment}/{release_id}" => { get => ui::release, head => ui::release },
    "/github/{owner}/{repo}/deployments" => { get => github_deployments::list },
    "/github/{owner}/{repo}/deployment/{id}" => { get => github_deployments::show },
    "/github/{owner}/{repo}/deployment/{id}/logs" => { get => github_deployments::read_log },
    // The inventory (seed 003), under both prefixes; `{id}.json` before
    // `{id}`, which would take it whole.
    "/provisioning" => { get => inventory::list_versions },
    "/provisioning/{id}.json" => { get => inventory::show_version_json },
    "/provisioning/{id}" => { post => inventory::create_version, get => inventory::show_version, delete => inventory::delete_version },
    "/provisioning/{id}/instances" => { post => inventory::add_version_instances },
    "/provisioning/{id}/instances/{instance_id}" => { delete => inventory::delete_version_instance },
    "/stackstudio/v1/provisioning" => { get => inventory::seed_list_versions },
    "/stackstudio/v1/provisioning/{id}.json" => { get => inventory::seed_show_version_json },
    "/stackstudio/v1/provisioning/{id}" => { post => inventory::seed_create_version, get => inventory::seed_show_version, delete => inventory::seed_delete_version },
    "/stackstudio/v1/provisioning/{id}/instances" => { post => inventory::seed_add_version_instances },
    "/stackstudio/v1/provisioning/{id}/instances/{instance_id}" => { delete => inventory::seed_delete_version_instance },
    "/projects/{team_project}/variables" => { get => variables::get_project, put => variables::put_project_file },
    "/projects/{team_project}/variables/{name}" => { put => variables::put_project, delete => variables::delete_project },
    "/projects/{team_project}/environments/{environment}/variables" => { get => variables::get_environment },
    "/projects/{team_project}/environments/{environment}/variables/{name}" => { put => variables::put_environment, delete => variables::delete_environment },
    "/ui/projects/{team_project}/variables" => { get => ui::project_variables, head => ui::project_variables },
    "/ui/projects/{team_project}/environments/{environment}/variables" => { get => ui::environment_variables, head => ui::environment_variables },
    "/ui/deployments" => { get => ui_deployments::list, head => ui_deployments::list },
    "/ui/deployments/{id}" => { get => ui_deployments::deployment, head => ui_deployments::deployment },
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    api_routes(cfg);
    cfg.service(
        utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi::document()),
    )
    .route(
        "/docs",
        web::get().to(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header((header::LOCATION, "/docs/"))
                .finish()
        }),
    )
    .default_service(web::to(not_found));
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

async fn method_not_allowed(allow: String) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(allow))
}

/// Reads a request body up to `limit` bytes, refusing larger ones without
/// reading them whole.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    // A client that trickles its body would hold the connection (and a
    // worker's attention) for as long as it likes.
    let timeout = req
        .app_data::<web::Data<AppState>>()
        .map_or(crate::config::DEFAULT_BODY_TIMEOUT, |state| {
            state.body_timeout
        });
    let read = async {
        let mut body = Vec::with_capacity(declared.unwrap_or(0));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::MalformedBody(format!("could not read the body: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| ApiError::BodyTimeout)?
}

/// Whether the body is labelled JSON: `application/json`, or a `+json`
/// type, whatever its parameters and case.
pub fn is_json(req: &HttpRequest) -> bool {
    use actix_web::HttpMessage;
    req.mime_type().ok().flatten().is_some_and(|mime| {
        mime.type_() == actix_web::mime::APPLICATION
            && (mime.subtype() == actix_web::mime::JSON
                || mime.suffix() == Some(actix_web::mime::JSON))
    })
}

/// JSON routes take only a JSON body: a form or `text/plain` post is what a
/// page elsewhere can send without asking the browser first.
pub fn require_json(req: &HttpRequest) -> Result<(), ApiError> {
    if is_json(req) {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// A route's query string, parsed once: a 400 problem if it cannot be.
pub fn parse_query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    serde_urlencoded::from_str(req.query_string())
        .map_err(|e| ApiError::BadRequest(format!("the query string is not valid: {e}")))
}

/// Browsers ask for HTML; everything else (pipelines, curl, scripts) gets
/// JSON.
pub fn wants_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}
