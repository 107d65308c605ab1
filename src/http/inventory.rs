//! The inventory's routes, as the seed (StackStudio's Provisioning API)
//! serves them, under `/provisioning` and, for its existing clients, under
//! `/stackstudio/v1/provisioning`. Bodies are read as JSON whatever the
//! `Content-Type` says (the seed's examples label JSON a form), and every
//! error a handler answers has the seed's shape, not problem+json:
//! `{"error": {"message", "validation_errors"}}` for a 400,
//! `{"error": {"message"}}` otherwise, since its clients read those.

use std::collections::BTreeMap;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use super::auth::Access;
use super::problem::ApiError;
use super::release::{decode_cursor, encode_cursor};
#[allow(unused_imports)] // named in the OpenAPI attributes
use super::schemas::{
    InstancesRequest, ProvisionedVersionRequest, ProvisioningDeleteErrors, ProvisioningListErrors,
    ProvisioningReadErrors, ProvisioningWriteErrors,
};
use super::{read_body, AppState};
use crate::db::provisioning::ListFilter;
use crate::domain::provisioning::{
    parse_filter, parse_id, parse_instances, parse_project, Invalid, NewProvisionedVersion,
};
use crate::domain::release::fold;
use crate::inventory::document::{
    ErrorDetail, ProvisionedVersionAnswer, ProvisionedVersionList, ProvisioningError,
    ProvisioningValidationError, ValidationErrorDetail,
};
use crate::inventory::{Actor, InventoryError};

/// 500 instances of a few short fields fit many times over; each one's
/// `properties` is capped apart (64 KiB).
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

const SEED_PREFIX: &str = "/stackstudio/v1";

/// An error in the seed's shape, with the status (and `Retry-After`,
/// `WWW-Authenticate`) the rest of the API would answer.
#[derive(Debug)]
pub enum SeedError {
    Invalid(Invalid),
    Other(ApiErrorOrStatus),
}

#[derive(Debug)]
pub enum ApiErrorOrStatus {
    Api(ApiError),
    Status(StatusCode, String),
}

impl std::fmt::Display for SeedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(invalid) => f.write_str(&invalid.message()),
            Self::Other(ApiErrorOrStatus::Api(e)) => e.fmt(f),
            Self::Other(ApiErrorOrStatus::Status(_, message)) => f.write_str(message),
        }
    }
}

impl From<ApiError> for SeedError {
    fn from(e: ApiError) -> Self {
        Self::Other(ApiErrorOrStatus::Api(e))
    }
}

impl From<crate::db::DbError> for SeedError {
    fn from(e: crate::db::DbError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<Invalid> for SeedError {
    fn from(invalid: Invalid) -> Self {
        Self::Invalid(invalid)
    }
}

impl From<InventoryError> for SeedError {
    fn from(e: InventoryError) -> Self {
        let status =
            |code, e: InventoryError| Self::Other(ApiErrorOrStatus::Status(code, e.to_string()));
        match e {
            e @ (InventoryError::NotFound(_) | InventoryError::InstanceNotFound(_)) => {
                status(StatusCode::NOT_FOUND, e)
            }
            InventoryError::Forbidden => {
                ApiError::Forbidden("this API key belongs to another project".to_owned()).into()
            }
            InventoryError::Taken(id) => Self::Invalid(Invalid(vec![(
                "stack_name".to_owned(),
                format!("has already been taken in this environment (provisioned version {id})"),
            )])),
            InventoryError::Db(e) => ApiError::from(e).into(),
        }
    }
}

impl ResponseError for SeedError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Other(ApiErrorOrStatus::Api(e)) => e.status_code(),
            Self::Other(ApiErrorOrStatus::Status(code, _)) => *code,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.content_type("application/json; charset=utf-8");
        match self {
            Self::Invalid(invalid) => {
                let mut fields: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for (field, message) in &invalid.0 {
                    fields
                        .entry(field.clone())
                        .or_default()
                        .push(message.clone());
                }
                response.json(ProvisioningValidationError {
                    error: ValidationErrorDetail {
                        message: invalid.message(),
                        validation_errors: fields,
                    },
                })
            }
            Self::Other(other) => {
                if let ApiErrorOrStatus::Api(e) = other {
                    super::problem::log(e);
                    if let Some(secs) = e.retry_after() {
                        response.insert_header((header::RETRY_AFTER, secs.to_string()));
                    }
                    if matches!(e, ApiError::Unauthorized(_)) {
                        response.insert_header((
                            header::WWW_AUTHENTICATE,
                            r#"Basic realm="greenlight""#,
                        ));
                    }
                    if matches!(e, ApiError::BodyTimeout) {
                        response.force_close();
                    }
                }
                response.json(ProvisioningError {
                    error: ErrorDetail {
                        message: self.to_string(),
                    },
                })
            }
        }
    }
}

type Answer = Result<HttpResponse, SeedError>;

/// The caller as the wing sees it.
fn actor(access: &Access) -> Actor {
    Actor {
        name: access.actor(),
        project: access.project().map(str::to_owned),
    }
}

/// The version or instance id a path names: anything not shaped like one
/// names nothing (404) without a query.
fn id_of(raw: &str, what: &str) -> Result<String, SeedError> {
    parse_id(raw).ok_or_else(|| {
        SeedError::Other(ApiErrorOrStatus::Status(
            StatusCode::NOT_FOUND,
            format!("{what} {} not found", raw.escape_debug()),
        ))
    })
}

/// Where the answer's own routes are: under the seed's prefix if the
/// request came that way.
fn base(req: &HttpRequest) -> &'static str {
    if req.path().starts_with(SEED_PREFIX) {
        "/stackstudio/v1/provisioning"
    } else {
        "/provisioning"
    }
}

fn version_answer(status: StatusCode, answer: ProvisionedVersionAnswer) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json; charset=utf-8")
        .json(answer)
}

async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Answer {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let body = read_body(&req, payload, MAX_BODY_BYTES).await?;
    let project = parse_project(&path.into_inner());
    let new = NewProvisionedVersion::parse_json(&body);
    let (project, new) = match (project, new) {
        (Ok(project), Ok(new)) => (project, new),
        (project, new) => {
            let mut all = project.err().unwrap_or_default();
            all.0.extend(new.err().unwrap_or_default().0);
            return Err(all.into());
        }
    };
    access.check(&fold(&project))?;
    let view = state.inventory.create(project, new, actor(&access)).await?;
    let answer = ProvisionedVersionAnswer::from(&view);
    let location = format!("{}/{}", base(&req), answer.provisioned_version.id);
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .content_type("application/json; charset=utf-8")
        .json(answer))
}

async fn show(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> Answer {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let id = id_of(&path.into_inner(), "Provisioned version")?;
    let view = state.inventory.show(id, actor(&access)).await?;
    Ok(version_answer(StatusCode::OK, (&view).into()))
}

async fn add_instances(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Answer {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let id = id_of(&path.into_inner(), "Provisioned version")?;
    let body = read_body(&req, payload, MAX_BODY_BYTES).await?;
    let instances = parse_instances(&body)?;
    let view = state
        .inventory
        .add_instances(id, instances, actor(&access))
        .await?;
    Ok(version_answer(StatusCode::OK, (&view).into()))
}

async fn delete_instance(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Answer {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let (id, instance_id) = path.into_inner();
    let id = id_of(&id, "Provisioned version")?;
    let instance_id = id_of(&instance_id, "Provisioned instance")?;
    let view = state
        .inventory
        .delete_instance(id, instance_id, actor(&access))
        .await?;
    Ok(version_answer(StatusCode::OK, (&view).into()))
}

async fn delete(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>) -> Answer {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let id = id_of(&path.into_inner(), "Provisioned version")?;
    let deleted = state.inventory.delete(id, actor(&access)).await?;
    Ok(version_answer(StatusCode::OK, (&deleted).into()))
}

/// The `GET /provisioning` query, parsed once here.
#[derive(Debug, serde::Deserialize)]
struct ListQuery {
    project_id: Option<String>,
    environment: Option<String>,
    stack_name: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

impl ListQuery {
    fn parse(self) -> Result<ListFilter, Invalid> {
        let mut invalid = Invalid::default();
        let mut key = |raw: Option<String>, check: &dyn Fn(&str) -> Result<String, Invalid>| {
            raw.and_then(|text| match check(&text) {
                Ok(text) => Some(fold(&text)),
                Err(e) => {
                    invalid.0.extend(e.0);
                    None
                }
            })
        };
        let team_project_key = key(self.project_id, &parse_project);
        let environment_key = key(self.environment, &|t| parse_filter(t, "environment"));
        let stack_name_key = key(self.stack_name, &|t| parse_filter(t, "stack_name"));
        let limit = match self.limit.map(|l| l.trim().parse::<i64>()) {
            None => DEFAULT_PAGE,
            Some(Ok(n)) if (1..=MAX_PAGE).contains(&n) => n,
            Some(_) => {
                invalid.0.push((
                    "limit".to_owned(),
                    format!("must be a whole number from 1 to {MAX_PAGE}"),
                ));
                DEFAULT_PAGE
            }
        };
        let before = self.cursor.and_then(|c| {
            let pk = decode_cursor(&c);
            if pk.is_none() {
                invalid.0.push((
                    "cursor".to_owned(),
                    "is not a cursor this service gave out".to_owned(),
                ));
            }
            pk
        });
        if !invalid.0.is_empty() {
            return Err(invalid);
        }
        Ok(ListFilter {
            team_project_key,
            environment_key,
            stack_name_key,
            before,
            limit,
        })
    }
}

async fn list(state: web::Data<AppState>, req: HttpRequest) -> Answer {
    let access = state.auth.authenticate(&state.db, &req).await?;
    let query: ListQuery = serde_urlencoded::from_str(req.query_string()).map_err(|e| {
        Invalid(vec![(
            "query".to_owned(),
            format!("is not a valid query string ({e})"),
        )])
    })?;
    let mut filter = query.parse()?;
    access.scope(&mut filter.team_project_key)?;
    let limit = filter.limit;
    let page = state.inventory.list(filter).await?;
    let next_cursor = (page.len() as i64 == limit)
        .then(|| page.last().map(|v| encode_cursor(v.version.pk)))
        .flatten();
    Ok(HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .json(ProvisionedVersionList {
            provisioned_versions: page.iter().map(Into::into).collect(),
            next_cursor,
        }))
}

/// One route under both prefixes: the handler for `/provisioning...` and
/// its twin for `/stackstudio/v1/provisioning...`, each documented.
macro_rules! both_prefixes {
    (
        $method:ident, $path:literal, $seed_path:literal, $name:ident, $seed_name:ident,
        $op:literal, $seed_op:literal,
        ($($args:ident : $ty:ty),*), $handler:ident,
        [$($doc:tt)*]
    ) => {
        #[utoipa::path($method, operation_id = $op, path = $path, tag = "inventory", $($doc)*,
            security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
        #[tracing::instrument(skip_all)]
        pub async fn $name($($args: $ty),*) -> Answer {
            $handler($($args),*).await
        }

        #[utoipa::path($method, operation_id = $seed_op, path = $seed_path, tag = "inventory", $($doc)*,
            security((), ("api_key" = []), ("bearer" = []), ("basic" = [])))]
        #[tracing::instrument(skip_all)]
        pub async fn $seed_name($($args: $ty),*) -> Answer {
            $handler($($args),*).await
        }
    };
}

both_prefixes!(post, "/provisioning/{id}", "/stackstudio/v1/provisioning/{id}", create_version, seed_create_version, "createProvisionedVersion", "stackstudioCreateProvisionedVersion",
(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>, payload: web::Payload), create,
[
    params(("id" = String, Path, min_length = 1, max_length = 140, description = "On POST: the team project (`project_id`) the new version belongs to")),
    request_body(content = ProvisionedVersionRequest, content_type = "application/json", description = "JSON, whatever the Content-Type says (the seed's clients label it `application/x-www-form-urlencoded`)"),
    responses(
        (status = 201, description = "Created, with no instances yet", body = ProvisionedVersionAnswer),
        ProvisioningWriteErrors,
    )
]);

both_prefixes!(get, "/provisioning/{id}", "/stackstudio/v1/provisioning/{id}", show_version, seed_show_version, "getProvisionedVersion", "stackstudioGetProvisionedVersion",
(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>), show,
[
    params(("id" = String, Path, description = "The version's id (24 hex digits)")),
    responses(
        (status = 200, description = "The version with its instances", body = ProvisionedVersionAnswer),
        ProvisioningReadErrors,
    )
]);

both_prefixes!(get, "/provisioning/{id}.json", "/stackstudio/v1/provisioning/{id}.json", show_version_json, seed_show_version_json, "getProvisionedVersionJson", "stackstudioGetProvisionedVersionJson",
(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>), show,
[
    params(("id" = String, Path, description = "The version's id (24 hex digits)")),
    responses(
        (status = 200, description = "The version with its instances", body = ProvisionedVersionAnswer),
        ProvisioningReadErrors,
    )
]);

both_prefixes!(delete, "/provisioning/{id}", "/stackstudio/v1/provisioning/{id}", delete_version, seed_delete_version, "deleteProvisionedVersion", "stackstudioDeleteProvisionedVersion",
(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>), delete,
[
    params(("id" = String, Path, description = "The version's id (24 hex digits)")),
    responses(
        (status = 200, description = "Deleted with its instances: the document as it was (kept in the `provisioned_version.deleted` event)", body = ProvisionedVersionAnswer),
        ProvisioningDeleteErrors,
    )
]);

both_prefixes!(post, "/provisioning/{id}/instances", "/stackstudio/v1/provisioning/{id}/instances", add_version_instances, seed_add_version_instances, "addProvisionedInstances", "stackstudioAddProvisionedInstances",
(state: web::Data<AppState>, req: HttpRequest, path: web::Path<String>, payload: web::Payload), add_instances,
[
    params(("id" = String, Path, description = "The version's id (24 hex digits)")),
    request_body(content = InstancesRequest, content_type = "application/json", description = "JSON, whatever the Content-Type says; 1 to 500 instances"),
    responses(
        (status = 200, description = "The version with all its instances; one whose `resource_id` was there is updated, not doubled", body = ProvisionedVersionAnswer),
        ProvisioningWriteErrors,
    )
]);

both_prefixes!(delete, "/provisioning/{id}/instances/{instance_id}", "/stackstudio/v1/provisioning/{id}/instances/{instance_id}", delete_version_instance, seed_delete_version_instance, "deleteProvisionedInstance", "stackstudioDeleteProvisionedInstance",
(state: web::Data<AppState>, req: HttpRequest, path: web::Path<(String, String)>), delete_instance,
[
    params(
        ("id" = String, Path, description = "The version's id (24 hex digits)"),
        ("instance_id" = String, Path, description = "The instance's `id` (24 hex digits), as the version document gives it"),
    ),
    responses(
        (status = 200, description = "Removed: the version as it is now", body = ProvisionedVersionAnswer),
        ProvisioningDeleteErrors,
    )
]);

both_prefixes!(get, "/provisioning", "/stackstudio/v1/provisioning", list_versions, seed_list_versions, "listProvisionedVersions", "stackstudioListProvisionedVersions",
(state: web::Data<AppState>, req: HttpRequest), list,
[
    params(
        ("project_id" = Option<String>, Query, min_length = 1, max_length = 140, description = "Only this team project's (a project key sees its own only)"),
        ("environment" = Option<String>, Query, min_length = 1, max_length = 128, description = "Case-insensitive"),
        ("stack_name" = Option<String>, Query, min_length = 1, max_length = 128, description = "Case-insensitive"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Default 50"),
        ("cursor" = Option<String>, Query, pattern = r"^c[0-9a-f]{1,16}$", description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of versions, newest first", body = ProvisionedVersionList),
        ProvisioningListErrors,
    )
]);
