//! The inventory's documents in the seed's shapes (StackStudio's
//! Provisioning API), field for field, so its clients read them as
//! before: a version wrapped in `provisioned_version`, each instance in
//! `provisioned_instance`; and the seed's two error shapes.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::service::VersionView;
use crate::db::provisioning::InstanceRow;

/// `{"provisioned_version": {...}}`: what every route of one version
/// answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisionedVersionAnswer {
    pub provisioned_version: ProvisionedVersionDocument,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisionedVersionDocument {
    /// 24 hex digits (the seed's ids)
    #[schema(pattern = "^[0-9a-f]{24}$")]
    pub id: String,
    pub stack_name: String,
    pub version: String,
    pub environment: String,
    /// In the order they were first stored.
    pub provisioned_instances: Vec<ProvisionedInstanceEntry>,
}

/// `{"provisioned_instance": {...}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisionedInstanceEntry {
    pub provisioned_instance: ProvisionedInstanceDocument,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisionedInstanceDocument {
    /// 24 hex digits: the `{instance_id}` of `DELETE .../instances/{instance_id}`
    #[schema(pattern = "^[0-9a-f]{24}$")]
    pub id: String,
    pub instance_type: String,
    /// The cloud's id of the instance (as posted)
    pub instance_id: String,
    /// Names the instance within its version: posting it again updates it
    pub resource_id: String,
    /// As posted (a JSON object)
    #[schema(value_type = Object)]
    pub properties: Box<RawValue>,
}

/// `GET /provisioning`: a page of versions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisionedVersionList {
    pub provisioned_versions: Vec<ProvisionedVersionAnswer>,
    /// The `cursor` of the next page; null on the last one
    pub next_cursor: Option<String>,
}

impl From<&VersionView> for ProvisionedVersionAnswer {
    fn from(view: &VersionView) -> Self {
        Self {
            provisioned_version: ProvisionedVersionDocument {
                id: view.version.id.clone(),
                stack_name: view.version.stack_name.clone(),
                version: view.version.version.clone(),
                environment: view.version.environment.clone(),
                provisioned_instances: view.instances.iter().map(Into::into).collect(),
            },
        }
    }
}

impl From<&InstanceRow> for ProvisionedInstanceEntry {
    fn from(row: &InstanceRow) -> Self {
        // Stored as the compact text of a JSON object: sent as it is.
        let properties = RawValue::from_string(row.properties.clone())
            .unwrap_or_else(|_| RawValue::from_string("{}".to_owned()).expect("valid JSON"));
        Self {
            provisioned_instance: ProvisionedInstanceDocument {
                id: row.id.clone(),
                instance_type: row.instance_type.clone(),
                instance_id: row.instance_id.clone(),
                resource_id: row.resource_id.clone(),
                properties,
            },
        }
    }
}

/// The seed's 400: `{"error": {"message", "validation_errors": {field:
/// [messages]}}}`, every bad field named.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisioningValidationError {
    pub error: ValidationErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationErrorDetail {
    /// Rails' full messages, joined: "Stack name can't be blank"
    pub message: String,
    /// Each bad field with its messages ("can't be blank")
    pub validation_errors: BTreeMap<String, Vec<String>>,
}

/// The seed's other errors (404 and the rest): `{"error": {"message"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvisioningError {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub message: String,
}
