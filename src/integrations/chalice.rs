//! Chalice's `.chalice/config.json` (seed 002), read and written:
//! `environment_variables` shared by every stage, and
//! `stages.<name>.environment_variables` per stage. Other keys of the file
//! (`api_gateway_stage`, `lambda_functions`...) are Chalice's own and are
//! ignored. A file that is not one is refused whole, every fault named.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::domain::release::{key_part, FieldError, ParseError, MAX_ENVIRONMENT};
use crate::domain::variable::{VariableName, VariableValue, MAX_PER_LEVEL};

/// The config versions Chalice writes.
pub const VERSIONS: [&str; 2] = ["1.0", "2.0"];

/// The variables of one level, by name.
pub type Level = BTreeMap<VariableName, VariableValue>;

/// What a config file says of variables.
#[derive(Debug, Clone, Default)]
pub struct ChaliceConfig {
    pub app_name: Option<String>,
    /// The project level.
    pub environment_variables: Level,
    /// One environment per stage, by the stage's name as written.
    pub stages: BTreeMap<String, Level>,
}

impl ChaliceConfig {
    pub fn parse_json(body: &[u8]) -> Result<Self, ParseError> {
        let object: Map<String, Value> = match serde_json::from_slice(body) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                return Err(ParseError::Malformed(
                    "a Chalice config is a JSON object".into(),
                ))
            }
            Err(e) => return Err(ParseError::Malformed(format!("the body is not JSON: {e}"))),
        };
        let mut errors = Vec::new();
        match object.get("version") {
            Some(Value::String(v)) if VERSIONS.contains(&v.as_str()) => {}
            _ => errors.push(FieldError::new(
                "version",
                "must be \"2.0\" or \"1.0\", as Chalice writes it",
            )),
        }
        let app_name = match object.get("app_name") {
            None | Some(Value::Null) => None,
            Some(Value::String(name)) => Some(name.clone()),
            Some(_) => {
                errors.push(FieldError::new("app_name", "must be a string"));
                None
            }
        };
        let environment_variables = level(
            "environment_variables",
            "environment_variables",
            object.get("environment_variables"),
            &mut errors,
        );
        let mut stages = BTreeMap::new();
        match object.get("stages") {
            None | Some(Value::Null) => {}
            Some(Value::Object(entries)) => {
                let mut folded = std::collections::HashSet::new();
                for (name, stage) in entries {
                    let Some(stage_name) = key_part("stages", name, MAX_ENVIRONMENT, &mut errors)
                    else {
                        continue;
                    };
                    if !folded.insert(crate::domain::release::fold(&stage_name)) {
                        errors.push(FieldError::new(
                            "stages",
                            format!("stage {name:?} names an environment another stage names (environments match case-insensitively)"),
                        ));
                        continue;
                    }
                    let Value::Object(stage) = stage else {
                        errors.push(FieldError::new(
                            "stages",
                            format!("stages.{name} must be an object"),
                        ));
                        continue;
                    };
                    let variables = level(
                        "stages",
                        &format!("stages.{name}.environment_variables"),
                        stage.get("environment_variables"),
                        &mut errors,
                    );
                    stages.insert(stage_name, variables);
                }
            }
            Some(_) => errors.push(FieldError::new("stages", "must be an object")),
        }
        if errors.is_empty() {
            Ok(Self {
                app_name,
                environment_variables,
                stages,
            })
        } else {
            Err(ParseError::Invalid(errors))
        }
    }

    /// The file, as Chalice reads it.
    pub fn to_json(&self) -> Value {
        let level = |vars: &Level| -> Map<String, Value> {
            vars.iter()
                .map(|(name, value)| (name.to_string(), json!(value.as_str())))
                .collect()
        };
        let stages: Map<String, Value> = self
            .stages
            .iter()
            .map(|(stage, vars)| (stage.clone(), json!({"environment_variables": level(vars)})))
            .collect();
        json!({
            "version": VERSIONS[1],
            "app_name": self.app_name,
            "environment_variables": level(&self.environment_variables),
            "stages": stages,
        })
    }
}

/// One `environment_variables` object: names and string values.
fn level(
    field: &'static str,
    path: &str,
    value: Option<&Value>,
    errors: &mut Vec<FieldError>,
) -> Level {
    let mut out = Level::new();
    let entries = match value {
        None | Some(Value::Null) => return out,
        Some(Value::Object(entries)) => entries,
        Some(_) => {
            errors.push(FieldError::new(field, format!("{path} must be an object")));
            return out;
        }
    };
    if entries.len() > MAX_PER_LEVEL {
        errors.push(FieldError::new(
            field,
            format!(
                "{path} has {} variables; a level holds at most {MAX_PER_LEVEL}",
                entries.len()
            ),
        ));
        return out;
    }
    for (name, value) in entries {
        let name = match VariableName::parse(name) {
            Ok(name) => name,
            Err(message) => {
                errors.push(FieldError::new(
                    field,
                    format!("{path}: {name:?} {message}"),
                ));
                continue;
            }
        };
        let Value::String(text) = value else {
            errors.push(FieldError::new(
                field,
                format!("{path}.{name} must be a string"),
            ));
            continue;
        };
        match VariableValue::parse(text.clone()) {
            Ok(value) => {
                out.insert(name, value);
            }
            Err(message) => errors.push(FieldError::new(field, format!("{path}.{name} {message}"))),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_reads_its_levels_and_ignores_chalices_own_keys() {
        let config = ChaliceConfig::parse_json(
            br#"{"version": "2.0", "app_name": "example",
                 "environment_variables": {"global": "same"},
                 "stages": {"dev": {"api_gateway_stage": "dev",
                                    "environment_variables": {"test": "t"}},
                            "prod": {"api_gateway_stage": "prod"}}}"#,
        )
        .unwrap();
        assert_eq!(config.app_name.as_deref(), Some("example"));
        assert_eq!(config.environment_variables.len(), 1);
        assert_eq!(config.stages.len(), 2);
        assert!(config.stages["prod"].is_empty());
        let back = config.to_json();
        assert_eq!(back["stages"]["dev"]["environment_variables"]["test"], "t");
    }

    #[test]
    fn a_file_that_is_not_one_is_refused_with_each_fault_named() {
        let fields = |body: &str| match ChaliceConfig::parse_json(body.as_bytes()) {
            Err(ParseError::Invalid(errors)) => errors.iter().map(|e| e.field).collect::<Vec<_>>(),
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(fields(r#"{"version": "3.0"}"#), ["version"]);
        assert_eq!(fields(r#"{}"#), ["version"]);
        assert_eq!(
            fields(r#"{"version": "2.0", "environment_variables": {"A": 1}}"#),
            ["environment_variables"]
        );
        assert_eq!(
            fields(r#"{"version": "2.0", "stages": {"dev": "x"}}"#),
            ["stages"]
        );
        assert_eq!(
            fields(
                r#"{"version": "2.0", "stages": {"dev": {"environment_variables": {"1A": "x"}}}}"#
            ),
            ["stages"]
        );
        assert!(matches!(
            ChaliceConfig::parse_json(b"not json"),
            Err(ParseError::Malformed(_))
        ));
    }
}
