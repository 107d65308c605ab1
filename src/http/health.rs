use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection;

use super::problem::ApiError;
use super::AppState;

/// Liveness: the process serves requests.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers.
#[tracing::instrument(skip_all)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state
        .db
        .read(|conn| Ok(conn.batch_execute("SELECT 1")?))
        .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}
