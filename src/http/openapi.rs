//! The OpenAPI 3.1 document (`GET /openapi.json`), generated from the
//! handlers' `#[utoipa::path]` attributes and the answer types, and `/docs`,
//! Swagger UI with its assets built into the binary.
//!
//! Answers are described by the types the handlers serialize; request
//! bodies are parsed by hand at the edge (one parse, domain types out), so
//! their shapes are described by types of their own, in `schemas.rs`.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, OpenApi as Document, RefOr, Schema, Type};
use utoipa::{Modify, OpenApi};

use super::approval::ApprovalAnswer;
use super::github::{GithubAccepted, Ignored};
use super::health::{Health, HealthStatus};
use super::problem::{Problem, PROBLEM_SLUGS};
use super::schemas::{ChaliceFile, ChaliceStage, FileFormat, PipelineFormat, VariableRequest};
use super::schemas::{
    ClaimRequestBody, DecisionName, DecisionRequest, DeploymentRequest, DeploymentStatusRequest,
    ReleaseRequest,
};
use super::schemas::{
    InstanceFields, InstanceItem, InstancesRequest, ProvisionedVersionFields,
    ProvisionedVersionRequest,
};
use super::schemas::{StackCommitRequest, StackRequestBody};
use super::slack::SlackModalErrors;
use super::variables::{
    ChaliceImported, EnvironmentVariablesAnswer, MergedVariable, MergedVariables, ProjectVariables,
    ProjectVariablesAnswer, StoredVariable, VariableAnswer, VariableOrigin,
};
use crate::deployments::document::{
    ClaimAnswer, ClaimEntry, DeploymentDocument, DeploymentList, EnvironmentEntry, EnvironmentList,
    HeartbeatAnswer, HeartbeatClaim, LogAppended, ProjectEventList, StatusEntry,
};
use crate::deployments::github::{GithubDeploymentDocument, GithubDeploymentList};
use crate::domain::{Decision, DeploymentState, FieldError, ReleaseStatus};
use crate::inventory::document::{
    ErrorDetail, ProvisionedInstanceDocument, ProvisionedInstanceEntry, ProvisionedVersionAnswer,
    ProvisionedVersionDocument, ProvisionedVersionList, ProvisioningError,
    ProvisioningValidationError, ValidationErrorDetail,
};
use crate::releases::document::{
    ApproverEntry, EventEntry, EventList, ReleaseList, StatusDocument,
};
use crate::stacks::document::{LeaseDocument, StackDocument, StackList};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Greenlight",
        description = "A release approval gate for CI/CD pipelines: a pipeline asks (`POST /release`), approvers decide from an emailed link, the pipeline polls or is called back.",
    ),
    paths(
        super::release::create_or_poll,
        super::release::list,
        super::release::show,
        super::release::events,
        super::approval::get,
        super::approval::head,
        super::approval::post,
        super::github::webhook,
        super::slack::interaction,
        super::deployments::create,
        super::deployments::deploy,
        super::deployments::list,
        super::deployments::show,
        super::deployments::post_status,
        super::deployments::cancel,
        super::deployments::append_log,
        super::deployments::read_log,
        super::deployments::environments,
        super::deployments::project_events,
        super::github_deployments::list,
        super::github_deployments::show,
        super::github_deployments::read_log,
        super::runners::claim,
        super::runners::heartbeat,
        super::stacks::request,
        super::stacks::heartbeat,
        super::stacks::commit,
        super::stacks::release,
        super::stacks::list,
        super::stacks::delete_last,
        super::health::healthz,
        super::health::readyz,
        super::metrics::metrics,
        super::ui::list,
        super::ui::release,
        super::inventory::list_versions,
        super::inventory::seed_list_versions,
        super::inventory::show_version_json,
        super::inventory::seed_show_version_json,
        super::inventory::create_version,
        super::inventory::seed_create_version,
        super::inventory::show_version,
        super::inventory::seed_show_version,
        super::inventory::delete_version,
        super::inventory::seed_delete_version,
        super::inventory::add_version_instances,
        super::inventory::seed_add_version_instances,
        super::inventory::delete_version_instance,
        super::inventory::seed_delete_version_instance,
        super::variables::put_project,
        super::variables::delete_project,
        super::variables::put_environment,
        super::variables::delete_environment,
        super::variables::get_environment,
        super::variables::get_project,
        super::variables::put_project_file,
        super::ui::project_variables,
        super::ui::environment_variables,
        super::ui_deployments::list,
        super::ui_deployments::deployment,
        openapi_json,
        docs,
    ),
    components(schemas(
        StatusDocument, ApproverEntry, ReleaseStatus, Decision, Problem, FieldError,
        ReleaseRequest, DecisionRequest, DecisionName, ApprovalAnswer, ReleaseList, EventList,
        EventEntry, Health, HealthStatus, Ignored, GithubAccepted, DeploymentDocument,
        StatusEntry, DeploymentState, DeploymentList, EnvironmentList, EnvironmentEntry,
        LogAppended, ProjectEventList, DeploymentRequest, DeploymentStatusRequest, SlackModalErrors,
        GithubDeploymentDocument, GithubDeploymentList,
        ProvisionedVersionAnswer, ProvisionedVersionDocument, ProvisionedInstanceEntry,
        ProvisionedInstanceDocument, ProvisionedVersionList, ProvisioningValidationError,
        ValidationErrorDetail, ProvisioningError, ErrorDetail, ProvisionedVersionRequest,
        ProvisionedVersionFields, InstancesRequest, InstanceItem, InstanceFields,
        VariableAnswer, VariableOrigin, MergedVariable, MergedVariables, EnvironmentVariablesAnswer,
        StoredVariable, ProjectVariables, ProjectVariablesAnswer, ChaliceImported, VariableRequest,
        ChaliceFile, ChaliceStage, PipelineFormat, FileFormat,
        ClaimAnswer, ClaimEntry, HeartbeatAnswer, HeartbeatClaim, ClaimRequestBody,
        StackDocument, LeaseDocument, StackList, StackRequestBody, StackCommitRequest
    )),
    modifiers(&Security, &ProblemTypes, &HeadOperations),
    tags(
        (name = "pipelines", description = "Asking for and reading approvals (API key when keys are required)"),
        (name = "approvers", description = "The emailed links and the decision pages (the token is the credential)"),
        (name = "deployments", description = "Deployment records, their statuses and logs, what runs where (API key when keys are required)"),
        (name = "inventory", description = "Which version of a stack is provisioned where, with its instances: the seed's StackStudio Provisioning API, also under /stackstudio/v1 (API key when keys are required; errors in the seed's shape)"),
        (name = "variables", description = "Variables per project and environment, secrets sealed (API key when keys are required)"),
        (name = "stacks", description = "Test stacks leased per branch: request, heartbeat, commit, release (API key when keys are required)"),
        (name = "integrations", description = "Other systems calling in"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    ),
)]
pub struct ApiDoc;

/// How a pipeline or operator presents an API key: any one of these.
struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // The key as the password, any user name (Azure DevOps' Generic
        // service connections, browsers).
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// A problem's `type` is one of a closed list: the document says which.
struct ProblemTypes;

impl Modify for ProblemTypes {
    fn modify(&self, doc: &mut Document) {
        let Some(components) = doc.components.as_mut() else {
            return;
        };
        if let Some(RefOr::T(Schema::Object(problem))) = components.schemas.get_mut("Problem") {
            problem.properties.insert(
                "type".to_owned(),
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(
                        PROBLEM_SLUGS
                            .iter()
                            .map(|slug| format!("urn:greenlight:problem:{slug}")),
                    ))
                    .into(),
            );
        }
    }
}

/// A handler serving GET and HEAD is one operation id in its attribute; the
/// document needs one per operation.
struct HeadOperations;

impl Modify for HeadOperations {
    fn modify(&self, doc: &mut Document) {
        for item in doc.paths.paths.values_mut() {
            let get = item.get.as_ref().and_then(|o| o.operation_id.clone());
            if let Some(head) = item.head.as_mut() {
                if head.operation_id.is_some() && head.operation_id == get {
                    head.operation_id = get.map(|id| format!("{id}Head"));
                }
            }
        }
    }
}

/// The document, as served.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// This document.
#[utoipa::path(get, operation_id = "openapi", path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
#[allow(dead_code)]
fn openapi_json() {}

/// Swagger UI for this document; its assets are served from the binary.
#[utoipa::path(get, operation_id = "docs", path = "/docs/", tag = "operations",
    responses((status = 200, description = "The page", content_type = "text/html", body = String)))]
#[allow(dead_code)]
fn docs() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_every_problem_type() {
        let json = serde_json::to_value(document()).unwrap();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        let types = &json["components"]["schemas"]["Problem"]["properties"]["type"]["enum"];
        assert_eq!(types.as_array().unwrap().len(), PROBLEM_SLUGS.len());
        assert!(types.as_array().unwrap().contains(&serde_json::json!(
            "urn:greenlight:problem:validation-error"
        )));
    }
}
