//! GitHub never retries a failed webhook delivery: a recurring job asks it
//! to redeliver the App's failed deployment protection rules, against a
//! stub of GitHub's deliveries API that checks what GitHub checks (the
//! App's RS256 JWT, its media type and API version, the paths).

use serde_json::{json, Value};
use wiremock::matchers::{header, method, path, path_regex, query_param, query_param_is_missing};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

use crate::both_backends;
use crate::helpers::{spawn_app_with, Backend, TestApp};

both_backends!(
    failed_protection_rules_are_redelivered_once_each,
    a_github_error_is_retried_and_the_recurrence_survives_it,
);

const APP_ID: &str = "12345";
const PRIVATE_KEY: &str = include_str!("../fixtures/github-app-test.pem");
const PUBLIC_KEY: &[u8] = include_bytes!("../fixtures/github-app-test.pub.pem");
const QUEUED: &str =
    "SELECT COUNT(*) FROM jobs WHERE kind = 'redeliver_github_webhooks' AND state = 'queued'";

/// GitHub's check of an App's own calls: a Bearer JWT, RS256, that verifies
/// with the App's public key, `iss` the App id, not yet expired.
struct AppJwt;

impl Match for AppJwt {
    fn matches(&self, request: &Request) -> bool {
        let Some(jwt) = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return false;
        };
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_issuer(&[APP_ID]);
        validation.set_required_spec_claims(&["exp", "iat", "iss"]);
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC_KEY).unwrap();
        jsonwebtoken::decode::<Value>(jwt, &key, &validation).is_ok()
    }
}

fn github_call(m: &str) -> wiremock::MockBuilder {
    Mock::given(method(m))
        .and(AppJwt)
        .and(header("accept", "application/vnd.github+json"))
        .and(header("x-github-api-version", "2022-11-28"))
}

fn delivery(
    id: i64,
    guid: &str,
    hours_ago: i64,
    code: i64,
    redelivery: bool,
    event: &str,
) -> Value {
    let at = chrono::Utc::now() - chrono::Duration::hours(hours_ago);
    json!({
        "id": id, "guid": guid,
        "delivered_at": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "redelivery": redelivery, "duration": 0.27,
        "status": if code == 200 { "OK".to_owned() } else { format!("Invalid HTTP Response: {code}") },
        "status_code": code, "event": event,
        "action": if event == "deployment_protection_rule" { Some("requested") } else { None },
        "installation_id": 42, "repository_id": 7,
    })
}

async fn spawn(backend: Backend, api: &MockServer, interval: &str, attempts: &str) -> TestApp {
    let (api_url, interval, attempts) = (api.uri(), interval.to_owned(), attempts.to_owned());
    spawn_app_with(
        backend,
        move |env| {
            env.insert("GREENLIGHT_GITHUB_APP_ID".into(), APP_ID.into());
            env.insert("GREENLIGHT_GITHUB_PRIVATE_KEY".into(), PRIVATE_KEY.into());
            env.insert(
                "GREENLIGHT_GITHUB_WEBHOOK_SECRET".into(),
                "gh-secret".into(),
            );
            env.insert("GREENLIGHT_GITHUB_API_URL".into(), api_url);
            env.insert("GREENLIGHT_GITHUB_REDELIVERY_INTERVAL".into(), interval);
            env.insert("GREENLIGHT_JOB_MAX_ATTEMPTS".into(), attempts);
        },
        false,
    )
    .await
}

/// The ids GitHub was asked to redeliver, in order.
async fn redelivered(api: &MockServer) -> Vec<i64> {
    api.received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .filter_map(|r| {
            r.url
                .path()
                .strip_prefix("/app/hook/deliveries/")?
                .strip_suffix("/attempts")?
                .parse()
                .ok()
        })
        .collect()
}

/// Waits until a run has ended: its successor is queued and not yet due
/// (a deadline, not a timing assertion).
async fn wait_for_next_run_queued(app: &TestApp) {
    for _ in 0..300 {
        if app.db.count(&format!(
            "{QUEUED} AND attempts = 0 AND lock_token IS NULL AND run_at > created_at"
        )) == 1
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the next run was never queued: {}", app.db.dump_jobs());
}

async fn failed_protection_rules_are_redelivered_once_each(backend: Backend) {
    let api = MockServer::start().await;
    let rule = "deployment_protection_rule";
    // Newest first, as GitHub lists them; a second page by cursor.
    let page1 = json!([
        delivery(11, "g-fixed", 1, 200, true, rule),
        delivery(10, "g-fixed", 2, 503, false, rule),
        delivery(9, "g-down", 2, 0, false, rule),
        delivery(8, "g-push", 2, 500, false, "push"),
        delivery(7, "g-twice", 3, 502, true, rule),
        delivery(6, "g-twice", 4, 500, false, rule),
        delivery(5, "g-ok", 5, 200, false, rule),
    ]);
    let page2 = json!([
        delivery(4, "g-page2", 10, 500, false, rule),
        delivery(3, "g-old", 24 * 4, 500, false, rule),
    ]);
    let next = format!(
        "<{}/app/hook/deliveries?per_page=100&cursor=v1_page2>; rel=\"next\"",
        api.uri()
    );
    github_call("GET")
        .and(path("/app/hook/deliveries"))
        .and(query_param("per_page", "100"))
        .and(query_param_is_missing("cursor"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page1)
                .insert_header("link", next.as_str()),
        )
        .mount(&api)
        .await;
    github_call("GET")
        .and(path("/app/hook/deliveries"))
        .and(query_param("per_page", "100"))
        .and(query_param("cursor", "v1_page2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page2))
        .mount(&api)
        .await;
    github_call("POST")
        .and(path_regex(r"^/app/hook/deliveries/[0-9]+/attempts$"))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({})))
        .mount(&api)
        .await;

    // The first run starts with the service; the next is an hour away.
    let app = spawn(backend, &api, "1h", "3").await;
    wait_for_next_run_queued(&app).await;
    let mut ids = redelivered(&api).await;
    ids.sort_unstable();
    // Not the redelivered-and-fixed guid, not a push, not the delivered
    // one, not one older than GitHub keeps; the newest failed attempt of a
    // guid that failed twice; one each.
    assert_eq!(ids, [4, 7, 9]);
    let unmatched: Vec<String> = api
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| !r.url.path().starts_with("/app/hook/deliveries"))
        .map(|r| r.url.to_string())
        .collect();
    assert!(unmatched.is_empty(), "{unmatched:?}");

    // A restart (or a second replica) queues no second recurrence.
    app.start_replica().await;
    assert_eq!(app.db.count(QUEUED), 1, "{}", app.db.dump_jobs());
}

async fn a_github_error_is_retried_and_the_recurrence_survives_it(backend: Backend) {
    let api = MockServer::start().await;
    let rule = "deployment_protection_rule";
    // GitHub fails the first two listings, then answers.
    github_call("GET")
        .and(path("/app/hook/deliveries"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&api)
        .await;
    github_call("GET")
        .and(path("/app/hook/deliveries"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([delivery(21, "g-lost", 1, 0, false, rule),])),
        )
        .with_priority(2)
        .mount(&api)
        .await;
    github_call("POST")
        .and(path("/app/hook/deliveries/21/attempts"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&api)
        .await;
    let app = spawn(backend, &api, "1h", "3").await;
    wait_for_next_run_queued(&app).await;
    assert_eq!(
        redelivered(&api).await,
        [21],
        "retried, then redelivered once"
    );
    assert_eq!(
        app.client
            .get(format!("{}/healthz", app.address))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // GitHub failing every attempt of a run: the run is given up, and the
    // next one is queued all the same.
    let down = MockServer::start().await;
    github_call("GET")
        .and(path("/app/hook/deliveries"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&down)
        .await;
    let app = spawn(backend, &down, "1h", "2").await;
    wait_for_next_run_queued(&app).await;
    assert_eq!(
        app.db.count(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'redeliver_github_webhooks' AND state = 'failed'"
        ),
        1,
        "{}",
        app.db.dump_jobs()
    );
    let listings = down.received_requests().await.unwrap().len();
    assert_eq!(listings, 2, "each attempt listed once");
}
