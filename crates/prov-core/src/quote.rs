//! Shell quoting: every value pasted into a remote command line goes through [`quote`].

use std::borrow::Cow;

/// Quotes `value` for a POSIX shell so that it stays one literal word.
///
/// Values that need no quoting are returned unchanged; everything else is wrapped in single
/// quotes (with embedded single quotes escaped). NUL bytes cannot be passed through a shell and
/// are dropped, which callers avoid by validating their input first.
pub fn quote(value: &str) -> Cow<'_, str> {
    let safe = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match c {
            '\'' => out.push_str("'\\''"),
            '\0' => {}
            c => out.push(c),
        }
    }
    out.push('\'');
    Cow::Owned(out)
}

/// Joins words into one command line, quoting each of them.
pub fn join<'a, I: IntoIterator<Item = &'a str>>(words: I) -> String {
    words.into_iter().map(quote).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_are_unchanged() {
        assert_eq!(
            quote("/etc/redis/redis-7000.conf"),
            "/etc/redis/redis-7000.conf"
        );
    }

    #[test]
    fn specials_are_single_quoted() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }

    #[test]
    fn quoted_words_survive_a_real_shell() {
        let tricky = "x'y\"z $HOME `id` \\ \n;|&";
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(tricky)))
            .output()
            .expect("sh runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), tricky);
        assert_eq!(join(["echo", "a b"]), "echo 'a b'");
    }
}
