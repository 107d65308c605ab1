//! A project's variables as parsed at the edge: names, values, and what a
//! `PUT` asks for (a value, a secret, or hiding the project's value in one
//! environment).

use serde_json::{Map, Value};

use super::release::{FieldError, ParseError};

/// The longest name: `[A-Za-z_][A-Za-z0-9_]{0,127}`.
pub const MAX_NAME: usize = 128;
/// The largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Entries per level (the project's, or one environment's).
pub const MAX_PER_LEVEL: usize = 1000;
/// Names of this prefix are Greenlight's own (its settings).
pub const RESERVED_PREFIX: &str = "GREENLIGHT_";

/// A variable's name: a shell identifier (so that `source` and `env`
/// take it), case-sensitive, outside Greenlight's own prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VariableName(String);

impl VariableName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut bytes = raw.bytes();
        let Some(first) = bytes.next() else {
            return Err("must not be empty".to_owned());
        };
        if raw.len() > MAX_NAME {
            return Err(format!("must be at most {MAX_NAME} characters"));
        }
        let shaped = (first.is_ascii_alphabetic() || first == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !shaped {
            return Err(
                "must match [A-Za-z_][A-Za-z0-9_]* (letters, digits and `_`, not starting with a digit)"
                    .to_owned(),
            );
        }
        if raw.starts_with(RESERVED_PREFIX) {
            return Err(format!(
                "must not start with {RESERVED_PREFIX}: those are Greenlight's own settings"
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for VariableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A value: any text up to 64 KiB but NUL, which no environment variable
/// (nor PostgreSQL's text) can hold.
#[derive(Clone, PartialEq, Eq)]
pub struct VariableValue(String);

impl VariableValue {
    pub fn parse(raw: String) -> Result<Self, String> {
        if raw.len() > MAX_VALUE_BYTES {
            return Err(format!(
                "must be at most {MAX_VALUE_BYTES} bytes (64 KiB), got {}",
                raw.len()
            ));
        }
        if raw.contains('\0') {
            return Err("must not contain NUL characters".to_owned());
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Never printed: it may be a secret.
impl std::fmt::Debug for VariableValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VariableValue({} bytes)", self.0.len())
    }
}

/// What a `PUT` of one variable asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableChange {
    Set {
        value: VariableValue,
        secret: bool,
    },
    /// At an environment's level: the project's value is hidden there.
    Unset,
}

impl VariableChange {
    /// Parses `{"value": "…", "secret": false}` or, where `unset_allowed`
    /// (an environment's level), `{"unset": true}`.
    pub fn parse_json(body: &[u8], unset_allowed: bool) -> Result<Self, ParseError> {
        let object: Map<String, Value> = match serde_json::from_slice(body) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                return Err(ParseError::Malformed(
                    "the body must be a JSON object".into(),
                ))
            }
            Err(e) => return Err(ParseError::Malformed(format!("the body is not JSON: {e}"))),
        };
        let mut errors = Vec::new();
        for key in object.keys() {
            if !matches!(key.as_str(), "value" | "secret" | "unset") {
                errors.push(FieldError::new(
                    "body",
                    format!("unknown field {key:?}: a variable takes value, secret and unset"),
                ));
            }
        }
        let flag = |name: &'static str, errors: &mut Vec<FieldError>| match object.get(name) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                errors.push(FieldError::new(name, "must be true or false"));
                false
            }
        };
        let secret = flag("secret", &mut errors);
        let unset = flag("unset", &mut errors);
        let value = object.get("value").filter(|v| !v.is_null());
        let change = if unset {
            if !unset_allowed {
                errors.push(FieldError::new(
                    "unset",
                    "is for an environment's level: it hides the project's value there; at the project's level, DELETE the variable",
                ));
            }
            if value.is_some() || secret {
                errors.push(FieldError::new(
                    "unset",
                    "an unset variable has no value and is no secret: send {\"unset\": true} alone",
                ));
            }
            Some(VariableChange::Unset)
        } else {
            match value {
                None => {
                    errors.push(FieldError::new("value", "is required (a string)"));
                    None
                }
                Some(Value::String(s)) => match VariableValue::parse(s.clone()) {
                    Ok(value) => Some(VariableChange::Set { value, secret }),
                    Err(message) => {
                        errors.push(FieldError::new("value", message));
                        None
                    }
                },
                Some(_) => {
                    errors.push(FieldError::new("value", "must be a string"));
                    None
                }
            }
        };
        match change {
            Some(change) if errors.is_empty() => Ok(change),
            _ => Err(ParseError::Invalid(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shell_identifiers_outside_greenlights_prefix() {
        for good in ["A", "_", "test", "DATABASE_URL", "a1_B2", &"X".repeat(128)] {
            assert!(VariableName::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1ABC",
            "GREENLIGHT_X",
            "A-B",
            "A B",
            "É",
            "A=B",
            &"X".repeat(129),
        ] {
            assert!(VariableName::parse(bad).is_err(), "{bad}");
        }
        // Case-sensitive: only the exact prefix is reserved.
        assert!(VariableName::parse("greenlight_x").is_ok());
    }

    #[test]
    fn values_are_text_up_to_64_kib() {
        assert!(VariableValue::parse("x".repeat(MAX_VALUE_BYTES)).is_ok());
        assert!(VariableValue::parse("x".repeat(MAX_VALUE_BYTES + 1)).is_err());
        assert!(VariableValue::parse("a\0b".into()).is_err());
        assert!(VariableValue::parse("'$`\\\n\"".into()).is_ok());
        let debug = format!("{:?}", VariableValue::parse("s3cr3t".into()).unwrap());
        assert!(!debug.contains("s3cr3t"));
    }

    #[test]
    fn a_change_is_a_value_or_an_unset() {
        let set = VariableChange::parse_json(br#"{"value": "v", "secret": true}"#, false).unwrap();
        assert!(matches!(set, VariableChange::Set { secret: true, .. }));
        assert_eq!(
            VariableChange::parse_json(br#"{"unset": true}"#, true).unwrap(),
            VariableChange::Unset
        );
        let refused = |body: &str, unset_allowed| match VariableChange::parse_json(
            body.as_bytes(),
            unset_allowed,
        ) {
            Err(ParseError::Invalid(errors)) => errors[0].field,
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(refused(r#"{"unset": true}"#, false), "unset");
        assert_eq!(refused(r#"{"unset": true, "value": "v"}"#, true), "unset");
        assert_eq!(refused(r#"{"value": 3}"#, true), "value");
        assert_eq!(refused(r#"{}"#, true), "value");
        assert_eq!(
            refused(r#"{"value": "v", "secret": "yes"}"#, true),
            "secret"
        );
        assert_eq!(refused(r#"{"value": "v", "valeu": 1}"#, true), "body");
        assert!(matches!(
            VariableChange::parse_json(b"[]", true),
            Err(ParseError::Malformed(_))
        ));
    }
}
