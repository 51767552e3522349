//! Privileges as community.mysql's `module_utils/user.py` reads and compares them: the `priv`
//! argument (`db.*:SELECT,INSERT/db2.tbl:ALL,GRANT`) unpacked by `privileges_unpack`, the
//! server's `SHOW GRANTS` lines parsed by `privileges_get`, both into the same ordered map
//! from `db.table` to privilege names.

use regex::Regex;
use std::sync::LazyLock;

/// `db.table` → privileges, in first-seen order (a Python dict).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Privs(pub Vec<(String, Vec<String>)>);

impl Privs {
    /// The privileges on `key`.
    pub fn get(&self, key: &str) -> Option<&Vec<String>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key` (in place when present, as a dict assignment does).
    fn set(&mut self, key: String, privs: Vec<String>) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = privs,
            None => self.0.push((key, privs)),
        }
    }

    /// `setdefault(key, []).extend(privs)`.
    fn extend(&mut self, key: String, privs: Vec<String>) {
        match self.0.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1.extend(privs),
            None => self.0.push((key, privs)),
        }
    }

    /// True when `key` is in the map.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// `ALL PRIVILEGES` is `ALL` (Ansible's `pick`).
fn pick(p: &str) -> String {
    if p == "ALL PRIVILEGES" {
        "ALL".into()
    } else {
        p.into()
    }
}

/// Splits at commas outside parentheses, dropping the blanks after each comma (Ansible's
/// `re.split(r',\s*(?=[^)]*(?:\(|$))', ..)`).
fn split_outside_parens(s: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut depth = 0i32;
    let mut skip_blank = false;
    for c in s.chars() {
        if skip_blank && c.is_whitespace() {
            continue;
        }
        skip_blank = false;
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth <= 0 => {
                out.push(String::new());
                skip_blank = true;
                continue;
            }
            _ => {}
        }
        out.last_mut().expect("one part").push(c);
    }
    out
}

/// Unpacks the `priv` argument. `ansi`: the server's sql_mode has ANSI (identifiers quoted
/// with `"`). Privilege names are upper-cased (column names too unless
/// `column_case_sensitive`), blanks around them dropped and `ALL PRIVILEGES` read as `ALL`
/// (what the server shows them as); `*.*:USAGE` is added when `*.*` is missing and
/// `ensure_usage`.
pub fn unpack(
    priv_: &str,
    ansi: bool,
    column_case_sensitive: bool,
    ensure_usage: bool,
) -> Result<Privs, String> {
    let quote = if ansi { '"' } else { '`' };
    let mut out = Privs::default();
    for item in priv_.trim().split('/') {
        let item = item.trim();
        let Some((target, privs)) = item.rsplit_once(':') else {
            return Err(format!("invalid privileges string: `{item}` has no `:`"));
        };
        let (mut object_type, mut dbpriv) = (String::new(), target.to_owned());
        let (db_part, table_part) = match dbpriv.rsplit_once('.') {
            Some((d, t)) => (d.to_owned(), Some(t.to_owned())),
            None => (dbpriv.clone(), None),
        };
        let mut db_part = db_part;
        if let Some((first, rest)) = db_part.split_once(' ')
            && (first == "FUNCTION" || first == "PROCEDURE")
        {
            object_type = format!("{first} ");
            db_part = rest.to_owned();
        }
        let q = |side: &str| {
            let bare = side.trim_matches('`');
            if bare == "*" {
                side.to_owned()
            } else {
                format!("{quote}{bare}{quote}")
            }
        };
        dbpriv = match table_part {
            Some(t) => format!("{}.{}", q(&db_part), q(&t)),
            None => q(&db_part),
        };
        let key = format!("{object_type}{dbpriv}");
        let list: Vec<String> = if privs.contains('(') {
            let text = if column_case_sensitive {
                privs.to_owned()
            } else {
                privs.to_uppercase()
            };
            split_outside_parens(&text)
        } else {
            privs.to_uppercase().split(',').map(str::to_owned).collect()
        };
        let list = list.iter().map(|p| pick(p.trim())).collect();
        out.set(key, normalize_col_grants(list));
    }
    if ensure_usage && !out.contains("*.*") {
        out.set("*.*".into(), vec!["USAGE".into()]);
    }
    Ok(out)
}

static GRANT_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^GRANT (.+) ON (.+) TO ['`"].*['`"]@['`"]"#).expect("grant regex")
});
static ROLE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^(GRANT (.+) TO ['`"]|SET DEFAULT ROLE (.+) FOR ['`"])"#).expect("role regex")
});

/// Parses `SHOW GRANTS` lines (Ansible's `privileges_get`): roles and default roles are
/// skipped, `WITH GRANT OPTION` is the privilege `GRANT`.
pub fn from_grants(lines: &[String]) -> Result<Privs, String> {
    let mut out = Privs::default();
    for line in lines {
        let Some(c) = GRANT_LINE.captures(line) else {
            if ROLE_LINE.is_match(line) {
                continue;
            }
            return Err(format!("unable to parse the MySQL grant string: {line}"));
        };
        let mut privs: Vec<String> = c[1].split(',').map(|p| pick(p.trim())).collect();
        privs = normalize_col_grants(privs);
        let tail = &line[c.get(2).expect("group 2").end()..];
        if tail.contains("WITH GRANT OPTION") {
            privs.push("GRANT".into());
        }
        out.extend(c[2].to_owned(), privs);
    }
    Ok(out)
}

/// Joins split column grants (`SELECT (a`, `b)`) and sorts their columns.
pub fn normalize_col_grants(mut privs: Vec<String>) -> Vec<String> {
    for grant in ["SELECT", "UPDATE", "INSERT", "REFERENCES"] {
        if let Some((start, end)) = has_grant_on_col(&privs, grant) {
            privs = handle_grant_on_col(&privs, start, end);
        }
    }
    privs
}

fn has_grant_on_col(privs: &[String], grant: &str) -> Option<(usize, usize)> {
    let mut start = None;
    let needle = format!("{grant} (");
    for (n, p) in privs.iter().enumerate() {
        if p.contains(&needle) {
            start = Some(n);
        }
        if start.is_some() && p.contains(')') {
            return start.map(|s| (s, n));
        }
    }
    None
}

fn handle_grant_on_col(privs: &[String], start: usize, end: usize) -> Vec<String> {
    let mut out: Vec<String> = privs[..start].to_vec();
    out.push(sort_column_order(&privs[start..=end].join(", ")));
    out.extend(privs[end + 1..].iter().cloned());
    out
}

/// `SELECT (b, a)` → `SELECT (a, b)`, back quotes dropped.
fn sort_column_order(statement: &str) -> String {
    let mut parts = statement.split('(');
    let name = parts.next().unwrap_or("");
    let cols = parts.next().unwrap_or("").trim_end_matches(')');
    let mut cols: Vec<&str> = cols
        .split(',')
        .map(|c| c.trim().trim_matches('`'))
        .collect();
    cols.sort_unstable();
    format!("{name}({})", cols.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[(&str, &[&str])]) -> Privs {
        Privs(
            v.iter()
                .map(|(k, l)| (k.to_string(), l.iter().map(|s| s.to_string()).collect()))
                .collect(),
        )
    }

    #[test]
    fn unpack_quotes_upper_cases_and_adds_usage() {
        assert_eq!(
            unpack(
                "app.*:ALL,GRANT/shop.orders:select, insert",
                false,
                false,
                true
            )
            .unwrap(),
            p(&[
                ("`app`.*", &["ALL", "GRANT"]),
                ("`shop`.`orders`", &["SELECT", "INSERT"]),
                ("*.*", &["USAGE"]),
            ])
        );
        assert_eq!(
            unpack("*.*:ALL PRIVILEGES", true, false, true).unwrap(),
            p(&[("*.*", &["ALL"])])
        );
        assert_eq!(
            unpack("`a-b`.*:SELECT", true, false, false).unwrap(),
            p(&[("\"a-b\".*", &["SELECT"])])
        );
        assert_eq!(
            unpack("db.t:SELECT (b, A),INSERT", false, true, false).unwrap(),
            p(&[("`db`.`t`", &["SELECT (A, b)", "INSERT"])])
        );
        assert_eq!(
            unpack("db.t:select (b, a), update", false, false, false).unwrap(),
            p(&[("`db`.`t`", &["SELECT (A, B)", "UPDATE"])])
        );
        assert_eq!(
            unpack("PROCEDURE db.p:EXECUTE", false, false, false).unwrap(),
            p(&[("PROCEDURE `db`.`p`", &["EXECUTE"])])
        );
        assert!(unpack("db.*", false, false, true).is_err());
    }

    #[test]
    fn show_grants_lines_parse_as_ansible_parses_them() {
        let lines: Vec<String> = [
            "GRANT USAGE ON *.* TO `app`@`localhost` IDENTIFIED BY PASSWORD '*0123'",
            "GRANT ALL PRIVILEGES ON `app`.* TO `app`@`localhost` WITH GRANT OPTION",
            "GRANT SELECT (`b`, `a`), INSERT ON `shop`.`t` TO `app`@`localhost`",
            "GRANT `role1` TO `app`@`localhost`",
            "SET DEFAULT ROLE `role1` FOR `app`@`localhost`",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            from_grants(&lines).unwrap(),
            p(&[
                ("*.*", &["USAGE"]),
                ("`app`.*", &["ALL", "GRANT"]),
                ("`shop`.`t`", &["SELECT (a, b)", "INSERT"]),
            ])
        );
        let e = from_grants(&["REVOKE x".to_string()]).unwrap_err();
        assert!(e.contains("unable to parse the MySQL grant string"), "{e}");
    }
}
