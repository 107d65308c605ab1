//! The inventory's requests, parsed once at the edge (seed 003, the
//! StackStudio Provisioning API): a provisioned version, a batch of
//! instances, their ids. Bad fields are reported the way the seed's
//! clients read them: a field name and Rails-style messages
//! ("can't be blank"), every bad field at once.

use rand::Rng;
use serde_json::{Map, Value};

use super::release::fold;

/// Every text field: required, not blank, at most this many characters.
pub const MAX_FIELD: usize = 128;
/// A team project, as elsewhere (`POST /release`, deployments).
pub const MAX_PROJECT: usize = super::release::MAX_TEAM_PROJECT;
/// `properties`, as JSON text.
pub const MAX_PROPERTIES_BYTES: usize = 64 * 1024;
/// Instances in one `POST .../instances`.
pub const MAX_INSTANCES: usize = 500;

const BLANK: &str = "can't be blank";

/// The bad fields of a request, in the order found: (field, message).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Invalid(pub Vec<(String, String)>);

impl Invalid {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push((field.into(), message.into()));
    }

    fn one(field: &str, message: impl Into<String>) -> Self {
        let mut invalid = Self::default();
        invalid.push(field, message);
        invalid
    }

    /// Rails' full messages, joined: "Stack name can't be blank, ...".
    pub fn message(&self) -> String {
        self.0
            .iter()
            .map(|(field, message)| format!("{} {message}", humanize(field)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `stack_name` -> `Stack name` (nested names are kept as they are).
fn humanize(field: &str) -> String {
    if field.contains(['.', '[']) {
        return field.to_owned();
    }
    let text = field.replace('_', " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// `POST /provisioning/{project_id}`'s `provisioned_version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProvisionedVersion {
    pub stack_name: String,
    pub version: String,
    pub environment: String,
}

impl NewProvisionedVersion {
    /// Reads `{"provisioned_version": {"stack_name", "version",
    /// "environment"}}`: JSON, whatever the request's `Content-Type`
    /// claimed. Unknown fields are ignored.
    pub fn parse_json(body: &[u8]) -> Result<Self, Invalid> {
        let root = object_body(body)?;
        let Some(inner) = root.get("provisioned_version") else {
            return Err(Invalid::one("provisioned_version", BLANK));
        };
        let Value::Object(fields) = inner else {
            return Err(Invalid::one("provisioned_version", "must be an object"));
        };
        let mut invalid = Invalid::default();
        let stack_name = text_field(fields, "stack_name", "stack_name", &mut invalid);
        let version = text_field(fields, "version", "version", &mut invalid);
        let environment = text_field(fields, "environment", "environment", &mut invalid);
        match (stack_name, version, environment) {
            (Some(stack_name), Some(version), Some(environment)) if invalid.0.is_empty() => {
                Ok(Self {
                    stack_name,
                    version,
                    environment,
                })
            }
            _ => Err(invalid),
        }
    }

    pub fn stack_name_key(&self) -> String {
        fold(&self.stack_name)
    }

    pub fn environment_key(&self) -> String {
        fold(&self.environment)
    }
}

/// One instance of a provisioned version; `resource_id` names it within
/// its version (posting it again updates it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstance {
    pub instance_type: String,
    pub instance_id: String,
    pub resource_id: String,
    /// A JSON object, as compact text.
    pub properties: String,
}

/// Reads `{"instances": [{"provisioned_instance": {"instance_type",
/// "instance_id", "resource_id", "properties"}}, ...]}` (1 to 500; an
/// item may also be the instance itself, unwrapped). `properties` is
/// optional (`{}`). A resource named twice keeps its last item.
pub fn parse_instances(body: &[u8]) -> Result<Vec<NewInstance>, Invalid> {
    let root = object_body(body)?;
    let list = match root.get("instances") {
        None | Some(Value::Null) => return Err(Invalid::one("instances", BLANK)),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(Invalid::one("instances", "must be a list")),
    };
    if list.is_empty() {
        return Err(Invalid::one("instances", BLANK));
    }
    if list.len() > MAX_INSTANCES {
        return Err(Invalid::one(
            "instances",
            format!("is too long (maximum is {MAX_INSTANCES} instances)"),
        ));
    }
    let mut invalid = Invalid::default();
    let mut parsed: Vec<NewInstance> = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let name = |field: &str| format!("instances[{i}].{field}");
        let fields = match item {
            Value::Object(o) => match o.get("provisioned_instance") {
                Some(Value::Object(inner)) => inner,
                Some(_) => {
                    invalid.push(name("provisioned_instance"), "must be an object");
                    continue;
                }
                None => o,
            },
            _ => {
                invalid.push(format!("instances[{i}]"), "must be an object");
                continue;
            }
        };
        let instance_type = text_field(
            fields,
            "instance_type",
            &name("instance_type"),
            &mut invalid,
        );
        let instance_id = text_field(fields, "instance_id", &name("instance_id"), &mut invalid);
        let resource_id = text_field(fields, "resource_id", &name("resource_id"), &mut invalid);
        let properties = match fields.get("properties") {
            None | Some(Value::Null) => Some("{}".to_owned()),
            Some(value @ Value::Object(_)) => {
                let text = value.to_string();
                if text.len() > MAX_PROPERTIES_BYTES {
                    invalid.push(
                        name("properties"),
                        format!("is too large (maximum is {MAX_PROPERTIES_BYTES} bytes of JSON)"),
                    );
                    None
                } else {
                    Some(text)
                }
            }
            Some(_) => {
                invalid.push(name("properties"), "must be a JSON object");
                None
            }
        };
        if let (Some(instance_type), Some(instance_id), Some(resource_id), Some(properties)) =
            (instance_type, instance_id, resource_id, properties)
        {
            let instance = NewInstance {
                instance_type,
                instance_id,
                resource_id,
                properties,
            };
            match parsed
                .iter_mut()
                .find(|p| p.resource_id == instance.resource_id)
            {
                Some(earlier) => *earlier = instance,
                None => parsed.push(instance),
            }
        }
    }
    if invalid.0.is_empty() {
        Ok(parsed)
    } else {
        Err(invalid)
    }
}

/// The team project a path names: not blank, at most 140 characters.
pub fn parse_project(raw: &str) -> Result<String, Invalid> {
    let mut invalid = Invalid::default();
    let text = check(raw, "project_id", MAX_PROJECT, &mut invalid);
    text.filter(|_| invalid.0.is_empty()).ok_or(invalid)
}

/// A list filter (`environment`, `stack_name`): the same rules as the
/// fields it matches.
pub fn parse_filter(raw: &str, field: &str) -> Result<String, Invalid> {
    let mut invalid = Invalid::default();
    let text = check(raw, field, MAX_FIELD, &mut invalid);
    text.filter(|_| invalid.0.is_empty()).ok_or(invalid)
}

fn object_body(body: &[u8]) -> Result<Map<String, Value>, Invalid> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(root)) => Ok(root),
        Ok(_) => Err(Invalid::one("body", "must be a JSON object")),
        Err(_) if body.iter().all(u8::is_ascii_whitespace) => Err(Invalid::one("body", BLANK)),
        Err(e) => Err(Invalid::one("body", format!("is not valid JSON ({e})"))),
    }
}

/// A required text field of `fields`, reported as `report`.
fn text_field(
    fields: &Map<String, Value>,
    name: &str,
    report: &str,
    invalid: &mut Invalid,
) -> Option<String> {
    match fields.get(name) {
        None | Some(Value::Null) => {
            invalid.push(report, BLANK);
            None
        }
        Some(Value::String(text)) => check(text, report, MAX_FIELD, invalid),
        Some(_) => {
            invalid.push(report, "must be a string");
            None
        }
    }
}

/// Trimmed, not blank, at most `max` characters, no control characters.
fn check(raw: &str, report: &str, max: usize, invalid: &mut Invalid) -> Option<String> {
    let text = raw.trim();
    if text.is_empty() {
        invalid.push(report, BLANK);
        None
    } else if text.chars().count() > max {
        invalid.push(report, format!("is too long (maximum is {max} characters)"));
        None
    } else if text.chars().any(char::is_control) {
        invalid.push(report, "must not contain control characters");
        None
    } else {
        Some(text.to_owned())
    }
}

/// A new id in the seed's form (a MongoDB ObjectId): 24 hex digits, the
/// first 8 the creation time in seconds, then 64 random bits.
pub fn new_id() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let random: u64 = rand::rng().random();
    format!("{:08x}{random:016x}", seconds as u32)
}

/// The id a path names, if it has the form of one (lower case): anything
/// else names nothing, without a query.
pub fn parse_id(raw: &str) -> Option<String> {
    (raw.len() == 24 && raw.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| raw.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_example_parses_whatever_it_was_labelled() {
        let new = NewProvisionedVersion::parse_json(
            br#"{"provisioned_version":{"stack_name":"Demo","version":"1.0.1","environment":"Production"}}"#,
        )
        .unwrap();
        assert_eq!(new.stack_name, "Demo");
        assert_eq!(new.environment_key(), "production");
    }

    #[test]
    fn every_bad_field_is_named_with_rails_messages() {
        let invalid = NewProvisionedVersion::parse_json(
            br#"{"provisioned_version":{"stack_name":" ","version":7}}"#,
        )
        .unwrap_err();
        assert_eq!(
            invalid.0,
            vec![
                ("stack_name".to_owned(), BLANK.to_owned()),
                ("version".to_owned(), "must be a string".to_owned()),
                ("environment".to_owned(), BLANK.to_owned()),
            ]
        );
        assert_eq!(
            invalid.message(),
            "Stack name can't be blank, Version must be a string, Environment can't be blank"
        );
    }

    #[test]
    fn instances_are_checked_one_by_one_and_a_resource_keeps_its_last_item() {
        let parsed = parse_instances(
            br#"{"instances":[
                {"provisioned_instance":{"instance_type":"EC2","instance_id":"a","resource_id":"r","properties":{}}},
                {"instance_type":"EC2","instance_id":"b","resource_id":"r"}]}"#,
        )
        .unwrap();
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].instance_id, "b");
        assert_eq!(parsed[0].properties, "{}");
        let invalid = parse_instances(
            br#"{"instances":[{"provisioned_instance":{"instance_type":"EC2","instance_id":"a","resource_id":"r","properties":[1]}}]}"#,
        )
        .unwrap_err();
        assert_eq!(invalid.0[0].0, "instances[0].properties");
        assert_eq!(
            parse_instances(br#"{"instances":{}}"#).unwrap_err().0[0].1,
            "must be a list"
        );
    }

    #[test]
    fn ids_have_the_seeds_form() {
        let id = new_id();
        assert_eq!(parse_id(&id), Some(id.clone()));
        assert_eq!(
            parse_id("4F95831BBE8A7C4115000001").as_deref(),
            Some("4f95831bbe8a7c4115000001")
        );
        assert_eq!(parse_id("nope"), None);
    }
}
