use actix_web::{web, HttpResponse};

use super::problem::{ApiError, Problem};
use super::AppState;

/// Prometheus' text format; the queue's gauges are read from the database
/// for each scrape.
#[utoipa::path(method(get, head), operation_id = "metrics", path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format: counts only, no names", content_type = "text/plain", body = String),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let text = crate::metrics::render(&state.db, &state.job_kinds).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
