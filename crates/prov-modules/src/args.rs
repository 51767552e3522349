//! Argument types shared by modules: Ansible-style booleans and file modes.

use serde::{Deserialize, Deserializer, de};

/// Deserializes a boolean written the Ansible way: `true/false`, `yes/no`, `on/off`, `1/0`,
/// in any case, as a YAML boolean, string or number.
pub fn de_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    parse_bool(&v).ok_or_else(|| {
        de::Error::custom(format!("expected a boolean (yes/no/true/false), found {v}"))
    })
}

/// `true`: the serde default of a boolean argument that is on unless turned off
/// (`#[serde(default = "crate::args::yes", deserialize_with = "de_bool")]`).
pub fn yes() -> bool {
    true
}

/// Like [`de_bool`] for an optional field.
pub fn de_opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => parse_bool(&v).map(Some).ok_or_else(|| {
            de::Error::custom(format!("expected a boolean (yes/no/true/false), found {v}"))
        }),
    }
}

/// Deserializes an optional integer written as a number or as a numeric string (free-form
/// `key=value` arguments and mixed templates give strings: Ansible converts them by the
/// argument's type).
pub fn de_opt_int<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr + serde::de::DeserializeOwned,
{
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| de::Error::custom(format!("expected an integer, found \"{s}\""))),
        Some(v) => T::deserialize(v).map(Some).map_err(de::Error::custom),
    }
}

/// `state: present | absent`, the choice of most modules (present by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    /// The thing exists as described.
    #[default]
    Present,
    /// The thing does not exist.
    Absent,
}

/// Interprets a JSON value as an Ansible boolean.
pub fn parse_bool(v: &serde_json::Value) -> Option<bool> {
    match v {
        serde_json::Value::Bool(b) => Some(*b),
        serde_json::Value::Number(n) => n.as_i64().and_then(|i| match i {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }),
        serde_json::Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "true" | "on" | "1" | "y" => Some(true),
            "no" | "false" | "off" | "0" | "n" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// A file mode: octal (`"0644"`, or an unquoted YAML number `0644`/`644`/`2750`, whose digits
/// are read as octal, never as a decimal integer) or symbolic (`u=rw,g=r,o=r`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Numeric mode bits.
    Octal(u32),
    /// A symbolic mode passed to chmod as written.
    Symbolic(String),
}

impl Mode {
    /// The argument for `chmod`.
    pub fn chmod_arg(&self) -> String {
        match self {
            Mode::Octal(m) => format!("{m:04o}"),
            Mode::Symbolic(s) => s.clone(),
        }
    }

    /// Parses a mode from text.
    pub fn parse(text: &str) -> Result<Mode, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("empty mode".into());
        }
        if t.chars().all(|c| c.is_ascii_digit()) {
            if t.contains(['8', '9']) {
                return Err(format!(
                    "mode {t} is not octal (digits 8 and 9 are not allowed)"
                ));
            }
            let m = u32::from_str_radix(t, 8).map_err(|e| format!("mode {t}: {e}"))?;
            if m > 0o7777 {
                return Err(format!("mode {t} is out of range (max 07777)"));
            }
            return Ok(Mode::Octal(m));
        }
        if let Some(o) = t.strip_prefix("0o") {
            return Mode::parse(o);
        }
        let symbolic_ok = t.split(',').all(|part| {
            let p = part.trim_start_matches(['u', 'g', 'o', 'a']);
            !p.is_empty()
                && p.starts_with(['=', '+', '-'])
                && p[1..]
                    .chars()
                    .all(|c| "rwxXstugo".contains(c) || "=+-".contains(c))
        });
        if symbolic_ok {
            Ok(Mode::Symbolic(t.to_owned()))
        } else {
            Err(format!(
                "`{t}` is neither an octal mode (\"0644\") nor a symbolic one (u=rw,g=r,o=r)"
            ))
        }
    }
}

impl<'de> Deserialize<'de> for Mode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let text = match &v {
            // An unquoted YAML 0644 arrives as the integer 644: its digits are the octal mode.
            serde_json::Value::Number(n) if n.is_u64() => n.to_string(),
            serde_json::Value::String(s) => s.clone(),
            other => {
                return Err(de::Error::custom(format!(
                    "expected a file mode, found {other}"
                )));
            }
        };
        Mode::parse(&text).map_err(de::Error::custom)
    }
}

/// The file attributes every file module takes (`mode`, `owner`, `group`), parsed on their own
/// by [`crate::parse_args_with_attrs`] (serde's `flatten` does not work with
/// `deny_unknown_fields`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileAttrArgs {
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
}

impl FileAttrArgs {
    /// The argument names.
    pub const KEYS: [&'static str; 3] = ["mode", "owner", "group"];
}

/// One string or a list of strings (`name: redis` or `name: [redis, redis-tools]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StringList(pub Vec<String>);

impl<'de> Deserialize<'de> for StringList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        match v {
            serde_json::Value::String(s) => Ok(StringList(
                s.split(',')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect(),
            )),
            serde_json::Value::Array(items) => items
                .into_iter()
                .map(|i| match i {
                    serde_json::Value::String(s) => Ok(s),
                    serde_json::Value::Number(n) => Ok(n.to_string()),
                    other => Err(de::Error::custom(format!(
                        "expected a string, found {other}"
                    ))),
                })
                .collect::<Result<_, _>>()
                .map(StringList),
            other => Err(de::Error::custom(format!(
                "expected a string or a list, found {other}"
            ))),
        }
    }
}

/// A scalar as Ansible's `type: str` converts it: strings as they are, numbers printed, booleans
/// as Python prints them (`True`/`False`); `None` for null.
pub fn scalar_string(v: &serde_json::Value) -> Result<Option<String>, String> {
    match v {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s.clone())),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        serde_json::Value::Bool(b) => Ok(Some(if *b { "True" } else { "False" }.into())),
        other => Err(format!("expected a string, found {other}")),
    }
}

/// Deserializes an optional `type: str` argument (numbers and booleans converted as Ansible
/// converts them, see [`scalar_string`]).
pub fn de_opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    match v {
        None => Ok(None),
        Some(v) => scalar_string(&v).map_err(de::Error::custom),
    }
}

/// Deserializes an optional `type: list, elements: str` argument; null elements are kept as
/// `None`. A bare string is split on commas, as Ansible splits it.
pub fn de_opt_string_list<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<Option<String>>>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(scalar_string)
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
            .map_err(de::Error::custom),
        Some(serde_json::Value::String(s)) => {
            Ok(Some(s.split(',').map(|p| Some(p.to_owned())).collect()))
        }
        Some(v) => scalar_string(&v)
            .map(|s| Some(vec![s]))
            .map_err(de::Error::custom),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquoted_yaml_mode_means_octal_digits() {
        let m: Mode = serde_json::from_value(serde_json::json!(644)).unwrap();
        assert_eq!(m, Mode::Octal(0o644));
        let m: Mode = serde_json::from_value(serde_json::json!(2750)).unwrap();
        assert_eq!(m, Mode::Octal(0o2750));
        assert!(serde_json::from_value::<Mode>(serde_json::json!(680)).is_err());
        assert_eq!(Mode::parse("0640").unwrap().chmod_arg(), "0640");
        assert_eq!(
            Mode::parse("u=rw,g=r,o=r").unwrap(),
            Mode::Symbolic("u=rw,g=r,o=r".into())
        );
        assert!(Mode::parse("rw-r--r--").is_err());
    }

    #[test]
    fn ansible_booleans() {
        for (v, b) in [
            ("yes", true),
            ("No", false),
            ("ON", true),
            ("off", false),
            ("True", true),
        ] {
            assert_eq!(parse_bool(&serde_json::json!(v)), Some(b), "{v}");
        }
        assert_eq!(parse_bool(&serde_json::json!("maybe")), None);
    }
}
