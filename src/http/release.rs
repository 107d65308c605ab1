//! `POST /release` and `GET /releases/{team_project}/{release_id}`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::document::StatusDocument;
use super::problem::ApiError;
use super::{read_body, AppState};
use crate::db::releases::ReleaseView;
use crate::db::{self, releases};
use crate::domain::{NewRelease, ReleaseKey};

/// A release request is three short strings; 64 KiB leaves room for
/// pipelines that send more fields than we read.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Creates the release (202) or answers its current status (200). No
/// network call happens here: the worker does the slow part.
#[tracing::instrument(skip_all)]
pub async fn create_or_poll(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(&req, payload, MAX_BODY_BYTES).await?;
    let new = NewRelease::parse_json(&body)?;
    let (timeout, max_attempts) = (state.decision_timeout, state.max_attempts);
    let (created, view) = db::run(&state.pool, move |conn| {
        let now = db::now();
        // Polls are the common case: answer them with one read.
        if let Some(existing) = releases::find(conn, &new.key)? {
            return Ok((false, releases::view(conn, existing, now)?));
        }
        match releases::insert_with_job(conn, &new, now, now + timeout, max_attempts)? {
            Some(created) => Ok((true, ReleaseView::created(created))),
            // Another request created it between our read and our insert.
            None => {
                let existing =
                    releases::find(conn, &new.key)?.ok_or(diesel::result::Error::NotFound)?;
                Ok((false, releases::view(conn, existing, now)?))
            }
        }
    })
    .await?;
    let status = if created {
        state.wake.notify_one();
        tracing::info!(
            team_project = %view.release.team_project,
            release_id = %view.release.release_id,
            "release accepted"
        );
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(StatusDocument::from(&view)))
}

pub async fn show(
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (team_project, release_id) = path.into_inner();
    let key = ReleaseKey::parse(&team_project, &release_id).map_err(ApiError::Validation)?;
    let view = db::run(&state.pool, move |conn| {
        releases::find(conn, &key)?
            .map(|r| releases::view(conn, r, db::now()))
            .transpose()
            .map_err(Into::into)
    })
    .await?
    .ok_or(ApiError::ReleaseNotFound {
        team_project,
        release_id,
    })?;
    Ok(HttpResponse::Ok().json(StatusDocument::from(&view)))
}
