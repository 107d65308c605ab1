use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection;

use super::problem::{ApiError, Problem};
use super::AppState;

/// `/healthz` and `/readyz` when all is well.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(super) struct Health {
    /// `ok` (live) or `ready`.
    status: HealthStatus,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum HealthStatus {
    Ok,
    Ready,
}

/// Liveness: the process serves requests.
#[utoipa::path(method(get, head), operation_id = "healthz", path = "/healthz", tag = "operations",
    responses((status = 200, description = "Serving", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health {
        status: HealthStatus::Ok,
    })
}

/// Readiness: the database answers.
#[utoipa::path(method(get, head), operation_id = "readyz", path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready: the database answers", body = Health),
        (status = 503, description = "Not ready: the problem names what is not", body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .db
        .read(|conn| Ok(conn.batch_execute("SELECT 1")?))
        .await?;
    Ok(HttpResponse::Ok().json(Health {
        status: HealthStatus::Ready,
    }))
}
