//! Remote shell scripts as a type: a [`Script`] is built only from static script text and
//! values that were quoted on the way in, so a value can never become shell syntax.
//!
//! ```
//! use prov_core::{Script, sh};
//! let path = "/etc/it's here";
//! let script: Script = sh!("stat -c %a {} && cat {}", path, path);
//! assert_eq!(script.as_str(), r"stat -c %a '/etc/it'\''s here' && cat '/etc/it'\''s here'");
//! // Scripts compose verbatim: a Script argument is already safe.
//! let both = sh!("{}\n{}", script, sh!("echo {}", 42));
//! assert!(both.as_str().ends_with("\necho 42"));
//! ```

use std::borrow::Cow;
use std::fmt;

use crate::quote::quote;

/// A POSIX sh script whose every interpolated value was quoted (see [`sh!`]).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Script(String);

impl Script {
    /// A script of static text only (a literal or an `include_str!` file).
    pub fn text(text: &'static str) -> Self {
        Self(text.to_owned())
    }

    /// Appends static text as it is.
    #[must_use]
    pub fn then_text(mut self, text: &'static str) -> Self {
        self.0.push_str(text);
        self
    }

    /// The script text, ready to hand to a shell.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Appends `other` on a new line.
    #[must_use]
    pub fn then(mut self, other: &Script) -> Self {
        if !self.0.is_empty() && !self.0.ends_with('\n') {
            self.0.push('\n');
        }
        self.0.push_str(&other.0);
        self
    }

    /// Appends one quoted word, separated by a space (`cmd` + `arg` → `cmd 'arg'`).
    #[must_use]
    pub fn arg(mut self, value: impl ToShell) -> Self {
        if !self.0.is_empty() && !self.0.ends_with([' ', '\n']) {
            self.0.push(' ');
        }
        self.0.push_str(&value.to_shell());
        self
    }

    /// True for an empty script.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Joins scripts, one per line.
    pub fn lines<'a>(parts: impl IntoIterator<Item = &'a Script>) -> Script {
        parts.into_iter().fold(Script::default(), |s, p| s.then(p))
    }

    #[doc(hidden)]
    /// Used by [`sh!`]: the format string is a literal and every argument went through
    /// [`ToShell`].
    pub fn __from_formatted(text: String) -> Self {
        Self(text)
    }
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Script({:?})", self.0)
    }
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&'static str> for Script {
    /// Static text (a literal or `include_str!`) is script text, not a value.
    fn from(text: &'static str) -> Self {
        Self::text(text)
    }
}

/// A value as it may appear in a script: strings and paths are quoted into one word,
/// numbers are printed, scripts are pasted as they are.
pub trait ToShell {
    /// The shell text for this value.
    fn to_shell(&self) -> Cow<'_, str>;
}

impl ToShell for str {
    fn to_shell(&self) -> Cow<'_, str> {
        quote(self)
    }
}

impl ToShell for String {
    fn to_shell(&self) -> Cow<'_, str> {
        quote(self)
    }
}

impl ToShell for std::path::Path {
    fn to_shell(&self) -> Cow<'_, str> {
        match self.to_string_lossy() {
            Cow::Borrowed(s) => quote(s),
            Cow::Owned(s) => Cow::Owned(quote(&s).into_owned()),
        }
    }
}

impl ToShell for Script {
    fn to_shell(&self) -> Cow<'_, str> {
        Cow::Borrowed(&self.0)
    }
}

impl<T: ToShell + ?Sized> ToShell for &T {
    fn to_shell(&self) -> Cow<'_, str> {
        (**self).to_shell()
    }
}

macro_rules! numbers_to_shell {
    ($($t:ty),*) => {$(
        impl ToShell for $t {
            fn to_shell(&self) -> Cow<'_, str> {
                Cow::Owned(self.to_string())
            }
        }
    )*};
}
numbers_to_shell!(u8, u16, u32, u64, usize, i32, i64);

/// Builds a [`Script`] from a literal format string whose `{}` placeholders take values through
/// [`ToShell`]: strings are quoted, numbers printed, scripts pasted.
#[macro_export]
macro_rules! sh {
    ($fmt:literal $(, $arg:expr)* $(,)?) => {
        $crate::script::Script::__from_formatted(format!(
            $fmt $(, $crate::script::ToShell::to_shell(&$arg))*
        ))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_scripts_are_not() {
        let name = "a b;rm -rf /";
        let s = sh!("useradd {} && echo {}", name, 5u32);
        assert_eq!(s.as_str(), "useradd 'a b;rm -rf /' && echo 5");
        let outer = sh!("if true; then {}; fi", s);
        assert_eq!(
            outer.as_str(),
            "if true; then useradd 'a b;rm -rf /' && echo 5; fi"
        );
    }

    #[test]
    fn builder_quotes_each_word() {
        let s = Script::from("systemctl")
            .arg("restart")
            .arg("my unit")
            .then(&Script::from("echo done"));
        assert_eq!(s.as_str(), "systemctl restart 'my unit'\necho done");
        assert_eq!(
            Script::lines([&sh!("a"), &sh!("b")]).as_str(),
            "a\nb",
            "lines joins with newlines"
        );
    }
}
