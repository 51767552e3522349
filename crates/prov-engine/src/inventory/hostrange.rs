//! Host names as inventories write them: an optional `:port` suffix and `[a:b]` / `[a:b:step]`
//! ranges (`web[01:03].example.com`, `db-[a:c]`), the way Ansible expands them.

/// Upper bound on the hosts one pattern may expand to (guards against `[0:999999999]`).
const MAX_EXPANSION: usize = 100_000;

/// Splits `pattern` into expanded host names and an optional port.
pub(crate) fn expand_host_pattern(pattern: &str) -> Result<(Vec<String>, Option<u16>), String> {
    let pattern = pattern.trim();
    if pattern.is_empty() {
        return Err("empty host name".into());
    }
    let (name, port) = split_port(pattern)?;
    if name.is_empty() {
        return Err(format!("host pattern `{pattern}` has no host name"));
    }
    let names = if name.contains('[') {
        let mut out = Vec::new();
        expand_ranges(name, &mut out)?;
        out
    } else {
        vec![name.to_owned()]
    };
    Ok((names, port))
}

/// `host:22` -> (`host`, 22); `[::1]:22` -> (`::1`, 22); a bare IPv6 address keeps its colons.
fn split_port(pattern: &str) -> Result<(&str, Option<u16>), String> {
    // Bracketed IPv6 address, optionally with a port.
    if let Some((inner, after)) = pattern
        .strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        && inner.matches(':').count() >= 2
    {
        if after.is_empty() {
            return Ok((inner, None));
        }
        if let Some(port) = after.strip_prefix(':') {
            return Ok((inner, Some(parse_port(port, pattern)?)));
        }
    }
    // Colons outside [ranges].
    let mut depth = 0usize;
    let mut colons = Vec::new();
    for (i, c) in pattern.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => colons.push(i),
            _ => {}
        }
    }
    match colons.as_slice() {
        [] => Ok((pattern, None)),
        [i] => {
            let (name, port) = (&pattern[..*i], &pattern[*i + 1..]);
            if port.is_empty() {
                Err(format!(
                    "host pattern `{pattern}` ends in `:`; that character is reserved for a port"
                ))
            } else if port.chars().all(|c| c.is_ascii_digit()) {
                Ok((name, Some(parse_port(port, pattern)?)))
            } else {
                Ok((pattern, None))
            }
        }
        // More than one colon: an IPv6 address without a port.
        _ => Ok((pattern, None)),
    }
}

fn parse_port(port: &str, pattern: &str) -> Result<u16, String> {
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!(
            "invalid port `{port}` in host pattern `{pattern}` (1-65535)"
        )),
    }
}

/// Expands the first `[...]` range of `line`, then recursively the others.
fn expand_ranges(line: &str, out: &mut Vec<String>) -> Result<(), String> {
    let Some(open) = line.find('[') else {
        out.push(line.to_owned());
        return Ok(());
    };
    let Some(close_rel) = line[open..].find(']') else {
        return Err(format!("unclosed `[` in host range `{line}`"));
    };
    let close = open + close_rel;
    let (head, range, tail) = (&line[..open], &line[open + 1..close], &line[close + 1..]);
    let bounds: Vec<&str> = range.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(format!(
            "host range `[{range}]` in `{line}` must be begin:end or begin:end:step"
        ));
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(format!(
            "host range `[{range}]` in `{line}` must specify an end value"
        ));
    }
    let step: usize = match bounds.get(2) {
        None => 1,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("invalid step `{s}` in host range `[{range}]`")),
        },
    };
    let values: Vec<String> = if is_letter(beg) && is_letter(end) {
        let letters: Vec<char> = ('a'..='z').chain('A'..='Z').collect();
        let b = letters
            .iter()
            .position(|c| beg.starts_with(*c))
            .unwrap_or(0);
        let e = letters
            .iter()
            .position(|c| end.starts_with(*c))
            .unwrap_or(0);
        if b > e {
            return Err(format!(
                "host range `[{range}]` in `{line}` must have begin <= end"
            ));
        }
        letters[b..=e]
            .iter()
            .step_by(step)
            .map(|c| c.to_string())
            .collect()
    } else {
        let (Ok(b), Ok(e)) = (beg.parse::<u64>(), end.parse::<u64>()) else {
            return Err(format!(
                "host range `[{range}]` in `{line}` needs two numbers or two single letters"
            ));
        };
        if b > e {
            return Err(format!(
                "host range `[{range}]` in `{line}` ends before it begins"
            ));
        }
        let width = if beg.len() > 1 && beg.starts_with('0') {
            if beg.len() != end.len() {
                return Err(format!(
                    "host range `[{range}]` in `{line}` must use equal-length begin and end \
                     when zero-padded"
                ));
            }
            beg.len()
        } else {
            0
        };
        let count = (e - b) / step as u64 + 1;
        if count as usize > MAX_EXPANSION || out.len() + count as usize > MAX_EXPANSION {
            return Err(format!("host range `[{range}]` expands to too many hosts"));
        }
        (b..=e)
            .step_by(step)
            .map(|n| format!("{n:0width$}"))
            .collect()
    };
    for v in values {
        let name = format!("{head}{v}{tail}");
        if out.len() >= MAX_EXPANSION {
            return Err(format!("host pattern `{line}` expands to too many hosts"));
        }
        expand_ranges(&name, out)?;
    }
    Ok(())
}

fn is_letter(s: &str) -> bool {
    let mut chars = s.chars();
    matches!((chars.next(), chars.next()), (Some(c), None) if c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &str) -> Vec<String> {
        expand_host_pattern(p).map(|(n, _)| n).unwrap_or_default()
    }

    #[test]
    fn plain_and_port() {
        assert_eq!(
            expand_host_pattern("web1").ok(),
            Some((vec!["web1".to_owned()], None))
        );
        assert_eq!(
            expand_host_pattern("web1:2222").ok(),
            Some((vec!["web1".to_owned()], Some(2222)))
        );
        assert_eq!(
            expand_host_pattern("[::1]:2200").ok(),
            Some((vec!["::1".to_owned()], Some(2200)))
        );
        assert_eq!(
            expand_host_pattern("fe80::1").ok(),
            Some((vec!["fe80::1".to_owned()], None))
        );
        assert!(expand_host_pattern("web1:").is_err());
        assert!(expand_host_pattern("web1:70000").is_err());
    }

    #[test]
    fn numeric_ranges() {
        assert_eq!(
            names("web[01:03].example.com"),
            [
                "web01.example.com",
                "web02.example.com",
                "web03.example.com"
            ]
        );
        assert_eq!(names("h[1:10:4]"), ["h1", "h5", "h9"]);
        assert_eq!(names("h[:2]"), ["h0", "h1", "h2"]);
        assert_eq!(names("r[1:2]-[a:b]"), ["r1-a", "r1-b", "r2-a", "r2-b"]);
        let (n, port) = expand_host_pattern("db[8:9]:2022").unwrap_or_default();
        assert_eq!(
            (n, port),
            (vec!["db8".to_owned(), "db9".to_owned()], Some(2022))
        );
    }

    #[test]
    fn bad_ranges() {
        for bad in [
            "h[1]",
            "h[1:]",
            "h[3:1]",
            "h[01:100]",
            "h[1:3",
            "h[a:3]",
            "h[1:5:0]",
            "h[0:9999999]",
        ] {
            assert!(expand_host_pattern(bad).is_err(), "{bad} should fail");
        }
    }
}
