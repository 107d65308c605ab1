use actix_web::{web, HttpResponse};

use super::problem::ApiError;
use super::AppState;

/// Prometheus' text format; the queue's gauges are read from the database
/// for each scrape.
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let text = crate::metrics::render(&state.db, &state.job_kinds).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}
