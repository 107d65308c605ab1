//! A request id on every request: the caller's `X-Request-Id` when it is a
//! sane token, a new one otherwise; returned in the answer and carried by
//! every log line of the request (a tracing span around it), the access
//! line too, which is written here, inside the span (actix's `Logger`
//! writes its line once the body is sent, outside of any span), and the
//! request's metrics. Jobs the request queues log under its id too (see
//! `cause`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

/// The caller's id if it is short and plain (it goes into logs as is).
fn accepted(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| accepted(id))
        .map_or_else(crate::ids::random_id, str::to_owned);
    // The path only: approval links carry their token in the query.
    let span = tracing::info_span!("request", request_id = %id);
    let (method, path) = (req.method().clone(), req.path().to_owned());
    let peer = req.peer_addr().map(|a| a.ip());
    let started = std::time::Instant::now();
    let mut response =
        crate::cause::scope(Some(&id), next.call(req).instrument(span.clone())).await?;
    let route = response.request().match_pattern();
    crate::metrics::http_request(
        route.as_deref().unwrap_or("unmatched"),
        method.as_str(),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    span.in_scope(|| {
        tracing::info!(
            peer = ?peer,
            status = response.status().as_u16(),
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "{method} {path}"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(HEADER), value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::accepted;

    #[test]
    fn only_plain_ids_are_taken_from_the_caller() {
        for ok in ["abc-123", "0f8e9d7c6b5a", "azdo:job.1_2"] {
            assert!(accepted(ok), "{ok}");
        }
        for bad in ["", "has space", "new\nline", "{json}", &"x".repeat(129)] {
            assert!(!accepted(bad), "{bad:?}");
        }
    }
}
