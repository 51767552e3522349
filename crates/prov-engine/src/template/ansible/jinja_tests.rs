//! Ansible's tests (`is failed`, `is version(...)`, `is match(...)`...).

use minijinja::value::Kwargs;
use minijinja::{Environment, Error, Value as MjValue};

use super::invalid;
use super::version::version_compare;

/// A registered result's boolean field (`failed`, `changed`, `skipped`), false when missing.
fn result_flag(v: &MjValue, field: &str) -> bool {
    v.get_attr(field).is_ok_and(|f| f.is_true())
}

fn in_network_test(v: String, network: Option<String>, kwargs: Kwargs) -> Result<bool, Error> {
    let network = match network {
        Some(n) => n,
        None => kwargs.get::<String>("network")?,
    };
    kwargs.assert_all_used()?;
    let net: ipnet::IpNet = network.parse().map_err(|e| invalid(format!("{e}")))?;
    let addr: std::net::IpAddr = v.parse().map_err(|e| invalid(format!("{e}")))?;
    Ok(net.contains(&addr))
}

/// Ansible's `match` (anchored at the start), `search` and `regex` tests.
fn regex_test(
    anchored: bool,
) -> impl Fn(String, String, Kwargs) -> Result<bool, Error> + Send + Sync + 'static {
    move |v, pattern, kwargs| {
        let ignorecase = kwargs.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
        let multiline = kwargs.get::<Option<bool>>("multiline")?.unwrap_or(false);
        let match_type = kwargs.get::<Option<String>>("match_type")?;
        kwargs.assert_all_used()?;
        let anchored = anchored || match_type.as_deref() == Some("match");
        let pattern = if anchored {
            format!(r"\A(?:{pattern})")
        } else {
            pattern
        };
        let re = regex::RegexBuilder::new(&pattern)
            .case_insensitive(ignorecase)
            .multi_line(multiline)
            .build()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(re.is_match(&v))
    }
}

pub(super) fn register(env: &mut Environment<'static>) {
    env.add_test("version", version_compare);
    env.add_test("version_compare", version_compare);
    env.add_test("match", regex_test(true));
    env.add_test("search", regex_test(false));
    env.add_test("regex", regex_test(false));
    env.add_test("truthy", |v: MjValue| v.is_true());
    env.add_test("falsy", |v: MjValue| !v.is_true());
    for (names, field, expect) in [
        (&["failed", "failure"], "failed", true),
        (&["succeeded", "success"], "failed", false),
        (&["changed", "change"], "changed", true),
        (&["skipped", "skip"], "skipped", true),
    ] {
        for name in names {
            env.add_test(*name, move |v: MjValue| result_flag(&v, field) == expect);
        }
    }
    env.add_test("in_network", in_network_test);
}
