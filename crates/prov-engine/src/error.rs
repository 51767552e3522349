//! Engine errors. Every error about the user's input names where it is: `file:line:column`,
//! and, once a run is under way, the host and the task.

use std::fmt;
use std::path::{Path, PathBuf};

/// A place in a file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl Location {
    /// A location in `file`.
    pub fn new(file: &Path, line: usize, column: usize) -> Self {
        Self {
            file: file.to_path_buf(),
            line: line.max(1),
            column: column.max(1),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// Why the engine could not load or run something.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// A file could not be read.
    #[error("{}: {message}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Malformed YAML or INI.
    #[error("{at}: syntax error: {message}")]
    Syntax {
        /// Where.
        at: Location,
        /// What.
        message: String,
    },
    /// Well-formed input that means something invalid (unknown module, wrong type...).
    #[error("{at}: {message}")]
    Invalid {
        /// Where.
        at: Location,
        /// What.
        message: String,
    },
    /// A task names a module prov does not have.
    #[error("{at}: unknown module `{module}`{hint}")]
    UnknownModule {
        /// Where the module's name is.
        at: Location,
        /// The name as written.
        module: String,
        /// A suggestion (` (did you mean ...?)`), or nothing.
        hint: String,
    },
    /// A module's arguments are not what prov's module takes (unknown, refused, mistyped).
    #[error("{at}: invalid arguments: {module}: {message}")]
    InvalidArgs {
        /// Where the argument (or the module key) is.
        at: Location,
        /// The module.
        module: String,
        /// What.
        message: String,
    },
    /// A template failed to parse or render.
    #[error("{at}: template error: {message}")]
    Template {
        /// Where the template text is (for a template file: the line inside it).
        at: Location,
        /// What (with the tera form for Jinja2-only syntax).
        message: String,
        /// The template used a name or value that is not defined (Ansible's
        /// `AnsibleUndefinedVariable`), as opposed to a syntax or type error.
        undefined: bool,
    },
    /// A vault file could not be decrypted.
    #[error("{}: vault: {message}", file.display())]
    Vault {
        /// The encrypted file.
        file: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A host pattern matched nothing or is malformed.
    #[error("host pattern `{pattern}`: {message}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What.
        message: String,
    },
    /// A task failed in a way that stops the run (with host and task named).
    #[error("{host}: task `{task}` ({at}): {message}")]
    Task {
        /// Host.
        host: String,
        /// Task name.
        task: String,
        /// Where the task is defined.
        at: Location,
        /// What.
        message: String,
    },
}

impl EngineError {
    /// True for what prov does not implement for a task: an unknown module, or arguments its
    /// module refuses.
    pub fn is_unsupported_task(&self) -> bool {
        matches!(
            self,
            EngineError::UnknownModule { .. } | EngineError::InvalidArgs { .. }
        )
    }

    /// An `Invalid` error at `at`.
    pub fn invalid(at: Location, message: impl Into<String>) -> Self {
        EngineError::Invalid {
            at,
            message: message.into(),
        }
    }
}
