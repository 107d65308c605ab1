//! Where configuration comes from, as figment providers: the environment
//! and `greenlight.toml`, merged by figment (the environment wins), which
//! also remembers where each value came from (`greenlight config` shows it).
//!
//! Both providers keep every value a string, as it was written: our
//! parsers own the syntax (`off`, `72h`, `all`), and figment's own `Env`
//! would re-type values (a secret of digits becomes a number, and a long
//! one a lossy float). Keys are normalised to the variable's name in
//! lowercase without `GREENLIGHT_`: `GREENLIGHT_JOB_POLL_MS`, `job_poll_ms`
//! and `JOB_POLL_MS` are one key.

use std::path::PathBuf;

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};

/// The key a variable or file key is stored under.
pub fn normalise(key: &str) -> String {
    let lower = key.to_ascii_lowercase();
    match lower.strip_prefix("greenlight_") {
        Some(rest) => rest.to_owned(),
        None => lower,
    }
}

/// The environment variable a normalised key is read from.
pub fn variable_name(key: &str) -> String {
    match key {
        "database_url" | "rust_log" => key.to_ascii_uppercase(),
        _ => format!("GREENLIGHT_{}", key.to_ascii_uppercase()),
    }
}

/// `GREENLIGHT_*` and `DATABASE_URL` variables: the process's, or a map
/// given by a test.
pub struct Variables {
    vars: Vec<(String, String)>,
}

impl Variables {
    pub fn new(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            vars: vars
                .into_iter()
                .filter(|(k, _)| k.starts_with("GREENLIGHT_") || k == "DATABASE_URL")
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Provider for Variables {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable")
            .interpolater(|_, keys| keys.first().map_or_else(String::new, |k| variable_name(k)))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let dict = self
            .vars
            .iter()
            .map(|(k, v)| (normalise(k), Value::from(v.clone())))
            .collect();
        Ok(Profile::Default.collect(dict))
    }
}

/// A TOML file whose top-level keys are the variables (any case, with or
/// without the prefix), and whose `[projects]` table holds the policies
/// per project and environment.
pub struct ConfigFile {
    pub path: PathBuf,
}

impl Provider for ConfigFile {
    fn metadata(&self) -> Metadata {
        Metadata::from("config file", figment::Source::File(self.path.clone()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        // figment adds the file's path to these errors.
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| Error::from(format!("cannot read it: {e}")))?;
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::from(e.message().to_owned()))?;
        let mut dict = Dict::new();
        for (key, value) in table {
            let key = normalise(&key);
            let value = match value {
                toml::Value::String(s) => Value::from(s),
                toml::Value::Integer(i) => Value::from(i.to_string()),
                toml::Value::Boolean(b) => Value::from(b.to_string()),
                toml::Value::Float(f) => Value::from(f.to_string()),
                toml::Value::Table(t) if key == "projects" => Value::serialize(t)?,
                other => {
                    return Err(Error::from(format!(
                        "{key} must be a string or a number, got a {}",
                        other.type_str()
                    )))
                }
            };
            dict.insert(key, value);
        }
        Ok(Profile::Default.collect(dict))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Figment;

    #[test]
    fn keys_normalise_to_one_name() {
        for key in [
            "GREENLIGHT_JOB_POLL_MS",
            "job_poll_ms",
            "JOB_POLL_MS",
            "greenlight_job_poll_ms",
        ] {
            assert_eq!(normalise(key), "job_poll_ms");
        }
        assert_eq!(variable_name("job_poll_ms"), "GREENLIGHT_JOB_POLL_MS");
        assert_eq!(variable_name(&normalise("DATABASE_URL")), "DATABASE_URL");
    }

    #[test]
    fn values_stay_as_written_and_the_environment_wins() {
        let dir = tempfile_dir();
        let path = dir.join("greenlight.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\nDATABASE_URL = \"x.db\"\nJOB_MAX_ATTEMPTS = 3\nsecret = \"from the file\"\n",
        )
        .unwrap();
        let figment = Figment::new()
            .merge(ConfigFile { path: path.clone() })
            .merge(Variables::new([
                (
                    "GREENLIGHT_SECRET".to_owned(),
                    "000123456789012345678901234567890123456789".to_owned(),
                ),
                ("HOME".to_owned(), "/root".to_owned()),
            ]));
        let dict: Dict = figment.extract().unwrap();
        let text = |k: &str| dict.get(k).and_then(Value::as_str).map(str::to_owned);
        assert_eq!(text("listen").as_deref(), Some("0.0.0.0:9000"));
        assert_eq!(text("database_url").as_deref(), Some("x.db"));
        assert_eq!(text("job_max_attempts").as_deref(), Some("3"));
        assert_eq!(
            text("secret").as_deref(),
            Some("000123456789012345678901234567890123456789"),
            "digits stay a string, leading zeros and all"
        );
        assert!(!dict.contains_key("home"), "only our variables");
        let from = figment.find_metadata("secret").unwrap();
        assert_eq!(
            from.interpolate(&Profile::Default, &["secret"]),
            "GREENLIGHT_SECRET"
        );
        assert_eq!(figment.find_metadata("listen").unwrap().name, "config file");

        std::fs::write(&path, "listen = [1]\n").unwrap();
        let err = Figment::new()
            .merge(ConfigFile { path })
            .extract::<Dict>()
            .unwrap_err();
        assert!(err.to_string().contains("listen must be a string"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("greenlight-config-{}", crate::random_id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
