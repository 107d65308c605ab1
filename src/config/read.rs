//! How a variable's text becomes a value. Each reader is called with the
//! names of its row's variables (`[key]` for most), so every error names
//! the variable it is about.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub(super) String);

impl From<crate::environments::PolicyError> for ConfigError {
    fn from(e: crate::environments::PolicyError) -> Self {
        Self(e.0)
    }
}

pub type Result<T> = std::result::Result<T, ConfigError>;

/// What the rows read from: the merged values, the `[projects]` table, and
/// what reading them noted.
pub struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
    pub projects: &'a toml::Table,
    pub origins: BTreeMap<String, String>,
    /// Deprecated names read, each with what to write instead.
    pub deprecated: RefCell<Vec<String>>,
}

impl<'a> Reader<'a> {
    pub fn new(
        get: &'a dyn Fn(&str) -> Option<String>,
        projects: &'a toml::Table,
        origins: BTreeMap<String, String>,
    ) -> Self {
        Self {
            get,
            projects,
            origins,
            deprecated: RefCell::default(),
        }
    }

    /// The value of `key`, trimmed; `None` when unset or blank.
    pub fn get(&self, key: &str) -> Option<String> {
        (self.get)(key)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }
}

/// Runs one row's reader with its variables' names (a function, so that
/// the closures in the table get their argument types).
pub fn row<T, const N: usize>(
    r: &Reader,
    keys: [&'static str; N],
    read: impl FnOnce(&Reader, [&'static str; N]) -> Result<T>,
) -> Result<T> {
    read(r, keys)
}

pub fn text(default: &'static str) -> impl Fn(&Reader, [&'static str; 1]) -> Result<String> {
    move |r, [key]| Ok(r.get(key).unwrap_or_else(|| default.to_owned()))
}

pub fn optional(r: &Reader, [key]: [&'static str; 1]) -> Result<Option<String>> {
    Ok(r.get(key))
}

pub fn secret(r: &Reader, [key]: [&'static str; 1]) -> Result<Option<SecretString>> {
    Ok(r.get(key).map(SecretString::from))
}

/// A signing secret: at least `token::MIN_SECRET_BYTES` long.
pub fn signing_secret(r: &Reader, [key]: [&'static str; 1]) -> Result<Option<SecretString>> {
    match r.get(key) {
        Some(s) if s.len() < crate::token::MIN_SECRET_BYTES => Err(ConfigError(format!(
            "{key} must be at least {} bytes long",
            crate::token::MIN_SECRET_BYTES
        ))),
        s => Ok(s.map(SecretString::from)),
    }
}

/// Signing secrets separated by commas, each as long as `signing_secret`.
pub fn signing_secrets(r: &Reader, [key]: [&'static str; 1]) -> Result<Vec<SecretString>> {
    let Some(list) = r.get(key) else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.len() < crate::token::MIN_SECRET_BYTES {
                Err(ConfigError(format!(
                    "{key}: each secret must be at least {} bytes long",
                    crate::token::MIN_SECRET_BYTES
                )))
            } else {
                Ok(SecretString::from(s))
            }
        })
        .collect()
}

/// A webhook signing secret and the one it replaces (a rotation), both
/// `whsec_` + base64 (`integrations::webhooks::WebhookSecret`).
pub fn webhook_keys(
    r: &Reader,
    [key, previous_key]: [&'static str; 2],
) -> Result<Option<crate::integrations::webhooks::SigningKeys>> {
    use crate::integrations::webhooks::{SigningKeys, WebhookSecret};
    let parse = |key: &str| {
        r.get(key)
            .map(|text| WebhookSecret::parse(&text).map_err(|e| ConfigError(format!("{key} {e}"))))
            .transpose()
    };
    match (parse(key)?, parse(previous_key)?) {
        (Some(current), previous) => Ok(Some(SigningKeys { current, previous })),
        (None, Some(_)) => Err(ConfigError(format!(
            "{previous_key} is set without {key} (a rotation signs with the new secret and the previous one)"
        ))),
        (None, None) => Ok(None),
    }
}

/// A key that seals credentials: 32 bytes of base64 (`sealed::SealKey`).
pub fn seal_key(r: &Reader, [key]: [&'static str; 1]) -> Result<Option<SecretString>> {
    r.get(key)
        .map(|value| {
            crate::sealed::SealKey::parse(&value)
                .map(|_| SecretString::from(value))
                .map_err(|e| ConfigError(format!("{key} {e}")))
        })
        .transpose()
}

pub fn boolean(default: bool) -> impl Fn(&Reader, [&'static str; 1]) -> Result<bool> {
    move |r, [key]| match r.get(key) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ConfigError(format!(
            "{key} must be true or false, got {v:?}"
        ))),
    }
}

/// One of a few words (any case); unset is the first.
pub fn choice<T: Copy>(
    options: [(&'static str, T); 2],
) -> impl Fn(&Reader, [&'static str; 1]) -> Result<T> {
    move |r, [key]| {
        let Some(v) = r.get(key).map(|v| v.to_ascii_lowercase()) else {
            return Ok(options[0].1);
        };
        options
            .iter()
            .find(|(word, _)| *word == v)
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                ConfigError(format!(
                    "{key} must be {} or {}, got {v:?}",
                    options[0].0, options[1].0
                ))
            })
    }
}

/// A value `parse` accepts as written; `expected` says what those are.
pub fn parsed<T: Copy>(
    default: T,
    parse: fn(&str) -> Option<T>,
    expected: &'static str,
) -> impl Fn(&Reader, [&'static str; 1]) -> Result<T> {
    move |r, [key]| match r.get(key) {
        None => Ok(default),
        Some(v) => {
            parse(&v).ok_or_else(|| ConfigError(format!("{key} must be {expected}, got {v:?}")))
        }
    }
}

/// A rate: a number per minute, or `off` (also `0`) for no limit.
pub fn per_minute(
    default: Option<u32>,
) -> impl Fn(&Reader, [&'static str; 1]) -> Result<Option<u32>> {
    move |r, [key]| match r.get(key) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("off") => Ok(None),
        Some(v) => v.parse::<u32>().map(|n| (n > 0).then_some(n)).map_err(|_| {
            ConfigError(format!(
                "{key} must be a number per minute or off, got {v:?}"
            ))
        }),
    }
}

pub fn parse<T: FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| ConfigError(format!("{key} must be a number, got {value:?}")))
}

pub fn number<T: FromStr + Copy>(default: T) -> impl Fn(&Reader, [&'static str; 1]) -> Result<T> {
    move |r, [key]| r.get(key).map_or(Ok(default), |v| parse(key, &v))
}

/// A number of at least `min` (default `default`).
pub fn at_least<T: FromStr + Copy + PartialOrd + std::fmt::Display>(
    min: T,
    default: T,
) -> impl Fn(&Reader, [&'static str; 1]) -> Result<T> {
    move |r, [key]| match number(default)(r, [key])? {
        n if n < min => Err(ConfigError(format!("{key} must be at least {min}"))),
        n => Ok(n),
    }
}

/// A number with no fixed default (`None`: decided later, e.g. per backend).
pub fn optional_number<T: FromStr>(r: &Reader, [key]: [&'static str; 1]) -> Result<Option<T>> {
    r.get(key).map(|v| parse(key, &v)).transpose()
}

/// Host names separated by commas, lowercased.
pub fn hosts(default: &'static str) -> impl Fn(&Reader, [&'static str; 1]) -> Result<Vec<String>> {
    move |r, [key]| {
        Ok(r.get(key)
            .unwrap_or_else(|| default.to_owned())
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect())
    }
}

/// Seconds, written `25` (as before), or a duration like `25s` or `1m`.
pub fn seconds(default: Duration) -> impl Fn(&Reader, [&'static str; 1]) -> Result<Duration> {
    move |r, [key]| {
        r.get(key).map_or(Ok(default), |v| match v.parse::<u64>() {
            Ok(n) => Ok(Duration::from_secs(n)),
            Err(_) => humantime::parse_duration(&v).map_err(|_| {
                ConfigError(format!(
                    "{key} must be a duration like 25s or 1m (or seconds), got {v:?}"
                ))
            }),
        })
    }
}

/// A duration, written `500ms`, `5s`, `2m`. The older `<key>_MS`, in
/// milliseconds, is still read when `key` is unset, with a line in
/// `deprecated` for the start log.
/// A duration, or `off` (`None`); zero is refused (a loop without a pause).
pub fn duration_or_off(
    default: Duration,
) -> impl Fn(&Reader, [&'static str; 1]) -> Result<Option<Duration>> {
    move |r, [key]| match r.get(key) {
        None => Ok(Some(default)),
        Some(v) if v.eq_ignore_ascii_case("off") => Ok(None),
        Some(v) => humantime::parse_duration(&v)
            .ok()
            .filter(|d| !d.is_zero())
            .map(Some)
            .ok_or_else(|| {
                ConfigError(format!(
                    "{key} must be a duration like 30s or 5m, or off, got {v:?}"
                ))
            }),
    }
}

pub fn duration(default: Duration) -> impl Fn(&Reader, [&'static str; 1]) -> Result<Duration> {
    move |r, [key]| {
        if let Some(v) = r.get(key) {
            return humantime::parse_duration(&v).map_err(|_| {
                ConfigError(format!(
                    "{key} must be a duration like 500ms, 5s or 2m, got {v:?}"
                ))
            });
        }
        let old = format!("{key}_MS");
        match r.get(&old) {
            None => Ok(default),
            Some(v) => {
                r.deprecated.borrow_mut().push(format!(
                    "{old} is deprecated and will go: write {key}={v}ms (or 5s, 2m) instead"
                ));
                parse(&old, &v).map(Duration::from_millis)
            }
        }
    }
}

/// A size in bytes: `1048576`, or with a unit: `512KiB`, `10MiB`, `1GiB`
/// (also `KB`, `MB`, `GB` in powers of 1000, and `B`). At least one byte.
pub fn bytes(default: u64) -> impl Fn(&Reader, [&'static str; 1]) -> Result<u64> {
    move |r, [key]| match r.get(key) {
        None => Ok(default),
        Some(v) => parse_bytes(&v).filter(|n| *n > 0).ok_or_else(|| {
            ConfigError(format!(
                "{key} must be a size like 10MiB, 512KiB or a number of bytes, got {v:?}"
            ))
        }),
    }
}

fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    number.checked_mul(factor)
}

#[cfg(test)]
mod byte_tests {
    use super::parse_bytes;

    #[test]
    fn sizes_are_read_with_their_units() {
        assert_eq!(parse_bytes("10MiB"), Some(10 * 1024 * 1024));
        assert_eq!(parse_bytes("512 KiB"), Some(512 * 1024));
        assert_eq!(parse_bytes("2kb"), Some(2000));
        assert_eq!(parse_bytes("4096"), Some(4096));
        for bad in ["", "MiB", "1.5MiB", "-1", "10 parsecs", "99999999999GiB"] {
            assert_eq!(parse_bytes(bad), None, "{bad}");
        }
    }
}
