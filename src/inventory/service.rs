//! The inventory's use cases. Each write is one transaction that finds
//! the version, checks the caller's project, takes the version's row lock,
//! writes, and appends its audit event; a refusal writes nothing.

use chrono::NaiveDateTime;
use serde_json::json;

use crate::db::deployments::Deployment;
use crate::db::events;
use crate::db::provisioning::{
    self as rows, InstanceRow, ListFilter, NewInstanceRow, NewVersionRow, VersionRow,
};
use crate::db::{self, Db, DbConnection, DbError};
use crate::domain::provisioning::{new_id, NewInstance, NewProvisionedVersion};
use crate::domain::release::fold;
use crate::domain::EventKind;

/// Who acts: the name the audit trail gives them (`key 3`; none when keys
/// are off) and the one project they may touch (a project key's, folded;
/// none for an admin key or when keys are off).
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub name: Option<String>,
    pub project: Option<String>,
}

impl Actor {
    fn may_touch(&self, team_project_key: &str) -> bool {
        self.project
            .as_deref()
            .is_none_or(|p| p == team_project_key)
    }
}

/// A version with its instances, in the order they were first stored.
#[derive(Debug, Clone)]
pub struct VersionView {
    pub version: VersionRow,
    pub instances: Vec<InstanceRow>,
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("Provisioned version {0} not found")]
    NotFound(String),
    #[error("Provisioned instance {0} not found")]
    InstanceNotFound(String),
    #[error("this API key belongs to another project")]
    Forbidden,
    /// The project has an entry for that stack and environment.
    #[error("Stack name has already been taken in this environment (provisioned version {0})")]
    Taken(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

type Refusable<T> = Result<T, InventoryError>;

/// The inventory wing, as its callers hold it.
#[derive(Clone)]
pub struct Inventory {
    db: Db,
}

impl Inventory {
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Records a new version of `team_project`'s stack in an environment,
    /// with no instances yet, and its `provisioned_version.created` event.
    pub async fn create(
        &self,
        team_project: String,
        new: NewProvisionedVersion,
        actor: Actor,
    ) -> Refusable<VersionView> {
        let team_project_key = fold(&team_project);
        if !actor.may_touch(&team_project_key) {
            return Err(InventoryError::Forbidden);
        }
        let created = self
            .db
            .write(move |conn| {
                let now = db::now();
                let id = new_id();
                let row = NewVersionRow {
                    id: &id,
                    team_project: &team_project,
                    team_project_key: &team_project_key,
                    stack_name: &new.stack_name,
                    stack_name_key: &new.stack_name_key(),
                    version: &new.version,
                    environment: &new.environment,
                    environment_key: &new.environment_key(),
                    created_at: now,
                    updated_at: now,
                };
                let Some(created) = rows::insert(conn, &row)? else {
                    let taken = rows::at_place(
                        conn,
                        &team_project_key,
                        row.stack_name_key,
                        row.environment_key,
                    )?
                    .map(|v| v.id)
                    .unwrap_or_default();
                    return Ok(Err(InventoryError::Taken(taken)));
                };
                let view = VersionView {
                    version: created,
                    instances: Vec::new(),
                };
                record(
                    conn,
                    &view.version,
                    EventKind::ProvisionedVersionCreated,
                    actor.name.as_deref(),
                    json!({}),
                    now,
                )?;
                Ok(Ok(view))
            })
            .await??;
        crate::metrics::provisioning_write("created");
        Ok(created)
    }

    /// One version with its instances, if the caller may see it.
    pub async fn show(&self, id: String, actor: Actor) -> Refusable<VersionView> {
        self.db
            .read(move |conn| {
                Ok(match find(conn, &id, &actor)? {
                    Ok(found) => Ok(view(conn, found)?),
                    Err(refused) => Err(refused),
                })
            })
            .await?
    }

    /// Stores instances: a `resource_id` the version has is updated in
    /// place (same id), a new one added.
    pub async fn add_instances(
        &self,
        id: String,
        instances: Vec<NewInstance>,
        actor: Actor,
    ) -> Refusable<VersionView> {
        let stored = self
            .db
            .write(move |conn| {
                let now = db::now();
                let found = match locked(conn, &id, &actor)? {
                    Ok(found) => found,
                    Err(refused) => return Ok(Err(refused)),
                };
                let resources: Vec<&str> =
                    instances.iter().map(|i| i.resource_id.as_str()).collect();
                let updated = rows::existing_resources(conn, found.pk, &resources)?;
                let new_rows: Vec<NewInstanceRow<'_>> = instances
                    .iter()
                    .map(|i| NewInstanceRow {
                        id: new_id(),
                        version_pk: found.pk,
                        instance_type: &i.instance_type,
                        instance_id: &i.instance_id,
                        resource_id: &i.resource_id,
                        properties: &i.properties,
                        created_at: now,
                        updated_at: now,
                    })
                    .collect();
                rows::upsert_instances(conn, &new_rows)?;
                rows::touch(conn, found.pk, now)?;
                let added: Vec<&str> = resources
                    .iter()
                    .filter(|r| !updated.iter().any(|u| u == *r))
                    .copied()
                    .collect();
                record(
                    conn,
                    &found,
                    EventKind::ProvisionedInstancesAdded,
                    actor.name.as_deref(),
                    json!({"added": added, "updated": updated}),
                    now,
                )?;
                Ok(Ok(view(conn, found)?))
            })
            .await??;
        crate::metrics::provisioning_write("instances_added");
        Ok(stored)
    }

    /// Removes one instance (by its id) from a version; answers the
    /// version as it is now.
    pub async fn delete_instance(
        &self,
        id: String,
        instance_id: String,
        actor: Actor,
    ) -> Refusable<VersionView> {
        let after = self
            .db
            .write(move |conn| {
                let now = db::now();
                let found = match locked(conn, &id, &actor)? {
                    Ok(found) => found,
                    Err(refused) => return Ok(Err(refused)),
                };
                let Some(deleted) = rows::delete_instance(conn, found.pk, &instance_id)? else {
                    return Ok(Err(InventoryError::InstanceNotFound(instance_id)));
                };
                rows::touch(conn, found.pk, now)?;
                record(
                    conn,
                    &found,
                    EventKind::ProvisionedInstanceDeleted,
                    actor.name.as_deref(),
                    json!({"provisioned_instance": instance_json(&deleted)}),
                    now,
                )?;
                Ok(Ok(view(conn, found)?))
            })
            .await??;
        crate::metrics::provisioning_write("instance_deleted");
        Ok(after)
    }

    /// Deletes a version and its instances; its event keeps the deleted
    /// document whole. Answers what was deleted.
    pub async fn delete(&self, id: String, actor: Actor) -> Refusable<VersionView> {
        let deleted = self
            .db
            .write(move |conn| {
                let now = db::now();
                let found = match locked(conn, &id, &actor)? {
                    Ok(found) => found,
                    Err(refused) => return Ok(Err(refused)),
                };
                let deleted = view(conn, found)?;
                let instances: Vec<_> = deleted.instances.iter().map(instance_json).collect();
                rows::delete(conn, deleted.version.pk)?;
                record(
                    conn,
                    &deleted.version,
                    EventKind::ProvisionedVersionDeleted,
                    actor.name.as_deref(),
                    json!({"provisioned_instances": instances}),
                    now,
                )?;
                Ok(Ok(deleted))
            })
            .await??;
        crate::metrics::provisioning_write("deleted");
        Ok(deleted)
    }

    /// A page of versions, newest first.
    pub async fn list(&self, filter: ListFilter) -> Result<Vec<VersionView>, DbError> {
        self.db
            .read(move |conn| {
                let page = rows::list(conn, &filter)?;
                Ok(views(conn, page)?)
            })
            .await
    }
}

/// Records, inside the deployment's own transaction, that a deployment
/// that ended `success` runs its version on its stack in its environment:
/// the project's entry for that stack and environment gets this version
/// (created if there is none), with a `provisioned_version.deployed`
/// event. A deployment that names no stack or version records nothing.
pub fn record_deployed(
    conn: &mut DbConnection,
    deployment: &Deployment,
    actor: Option<&str>,
    now: NaiveDateTime,
) -> diesel::QueryResult<()> {
    let (Some(stack_name), Some(version)) = (
        deployment.stack_name.as_deref(),
        deployment.version.as_deref(),
    ) else {
        return Ok(());
    };
    let stack_name_key = fold(stack_name);
    let place = |conn: &mut DbConnection| {
        rows::at_place(
            conn,
            &deployment.team_project_key,
            &stack_name_key,
            &deployment.environment_key,
        )
    };
    let new_entry = |conn: &mut DbConnection| {
        rows::insert(
            conn,
            &NewVersionRow {
                id: &new_id(),
                team_project: &deployment.team_project,
                team_project_key: &deployment.team_project_key,
                stack_name,
                stack_name_key: &stack_name_key,
                version,
                environment: &deployment.environment,
                environment_key: &deployment.environment_key,
                created_at: now,
                updated_at: now,
            },
        )
    };
    let (entry, previous) = match place(conn)? {
        Some(found) => (found, true),
        None => match new_entry(conn)? {
            Some(created) => (created, false),
            // Created meanwhile through the API: update that one.
            None => (place(conn)?.ok_or(diesel::result::Error::NotFound)?, true),
        },
    };
    let previous = previous.then(|| entry.version.clone());
    if previous.is_some() {
        rows::set_version(conn, entry.pk, version, now)?;
    }
    let mut current = entry;
    current.version = version.to_owned();
    record(
        conn,
        &current,
        EventKind::ProvisionedVersionDeployed,
        actor,
        json!({"deployment_id": deployment.id, "previous_version": previous}),
        now,
    )?;
    db::after_commit(|| crate::metrics::provisioning_write("deployed"));
    Ok(())
}

/// The version `id`, `NotFound` if there is none, `Forbidden` if the
/// caller's key is another project's.
fn find(
    conn: &mut DbConnection,
    id: &str,
    actor: &Actor,
) -> Result<Refusable<VersionRow>, DbError> {
    Ok(match rows::by_id(conn, id)? {
        None => Err(InventoryError::NotFound(id.to_owned())),
        Some(v) if !actor.may_touch(&v.team_project_key) => Err(InventoryError::Forbidden),
        Some(v) => Ok(v),
    })
}

/// `find`, then the version's row lock, then the version as it is under
/// the lock (gone if a concurrent delete won).
fn locked(
    conn: &mut DbConnection,
    id: &str,
    actor: &Actor,
) -> Result<Refusable<VersionRow>, DbError> {
    let found = match find(conn, id, actor)? {
        Ok(found) => found,
        Err(refused) => return Ok(Err(refused)),
    };
    if !rows::lock(conn, found.pk)? {
        return Ok(Err(InventoryError::NotFound(id.to_owned())));
    }
    find(conn, id, actor)
}

fn view(conn: &mut DbConnection, version: VersionRow) -> diesel::QueryResult<VersionView> {
    let instances = rows::instances_of(conn, &[version.pk])?;
    Ok(VersionView { version, instances })
}

/// Versions with their instances, in the order given; one query for all
/// the instances.
fn views(
    conn: &mut DbConnection,
    versions: Vec<VersionRow>,
) -> diesel::QueryResult<Vec<VersionView>> {
    let pks: Vec<i64> = versions.iter().map(|v| v.pk).collect();
    let mut instances = rows::instances_of(conn, &pks)?;
    Ok(versions
        .into_iter()
        .map(|version| {
            let (mine, rest): (Vec<InstanceRow>, Vec<InstanceRow>) = instances
                .drain(..)
                .partition(|i| i.version_pk == version.pk);
            instances = rest;
            VersionView {
                version,
                instances: mine,
            }
        })
        .collect())
}

fn instance_json(row: &InstanceRow) -> serde_json::Value {
    json!({
        "id": row.id,
        "instance_type": row.instance_type,
        "instance_id": row.instance_id,
        "resource_id": row.resource_id,
        "properties": serde_json::from_str::<serde_json::Value>(&row.properties)
            .unwrap_or_else(|_| json!({})),
    })
}

/// Appends a control-plane event of the version's project, inside the
/// caller's transaction; every detail names the version.
fn record(
    conn: &mut DbConnection,
    version: &VersionRow,
    kind: EventKind,
    actor: Option<&str>,
    mut detail: serde_json::Value,
    at: NaiveDateTime,
) -> diesel::QueryResult<()> {
    if let Some(fields) = detail.as_object_mut() {
        fields.insert("provisioned_version_id".to_owned(), json!(version.id));
        fields.insert("stack_name".to_owned(), json!(version.stack_name));
        fields.insert("version".to_owned(), json!(version.version));
        fields.insert("environment".to_owned(), json!(version.environment));
    }
    events::append_to_project(
        conn,
        &version.team_project_key,
        kind.as_str(),
        actor,
        &detail,
        at,
    )
}
