//! What a task runs, resolved once when the playbook is loaded: a module of `prov-modules` or an
//! action of the engine itself. The runner matches on it; it never looks a name up again.

use prov_modules::ModuleSpec;

/// Controller-side actions handled by the engine itself (they work on variables and
/// controller files, never on the host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineAction {
    /// `setup`: gathers facts again, through the host's connection.
    Setup,
    /// `debug`.
    Debug,
    /// `assert`.
    Assert,
    /// `set_fact`.
    SetFact,
    /// `fail`.
    Fail,
    /// `meta`.
    Meta,
    /// `include_tasks` (and the old `include`).
    IncludeTasks,
    /// `include_vars`.
    IncludeVars,
    /// `include_role`.
    IncludeRole,
}

impl EngineAction {
    /// Every engine action.
    pub const ALL: [EngineAction; 9] = [
        EngineAction::Setup,
        EngineAction::Debug,
        EngineAction::Assert,
        EngineAction::SetFact,
        EngineAction::Fail,
        EngineAction::Meta,
        EngineAction::IncludeTasks,
        EngineAction::IncludeVars,
        EngineAction::IncludeRole,
    ];

    /// Its canonical name.
    pub const fn name(self) -> &'static str {
        match self {
            EngineAction::Setup => "setup",
            EngineAction::Debug => "debug",
            EngineAction::Assert => "assert",
            EngineAction::SetFact => "set_fact",
            EngineAction::Fail => "fail",
            EngineAction::Meta => "meta",
            EngineAction::IncludeTasks => "include_tasks",
            EngineAction::IncludeVars => "include_vars",
            EngineAction::IncludeRole => "include_role",
        }
    }

    /// True for the actions that reach the host (through its connection).
    pub const fn needs_connection(self) -> bool {
        matches!(self, EngineAction::Setup)
    }

    /// The action a short name names (`include` is Ansible's old `include_tasks`).
    fn from_short_name(short: &str) -> Option<Self> {
        if short == "include" {
            return Some(EngineAction::IncludeTasks);
        }
        Self::ALL.into_iter().find(|a| a.name() == short)
    }
}

/// What a task runs.
#[derive(Debug, Clone, Copy)]
pub enum TaskAction {
    /// A module, run on the host through its connection.
    Module(&'static ModuleSpec),
    /// An engine action.
    Engine(EngineAction),
}

impl TaskAction {
    /// Resolves a task's module key (`copy`, `ansible.builtin.debug`, `include`...).
    pub fn resolve(name: &str) -> Option<Self> {
        let short = prov_modules::short_name(name);
        EngineAction::from_short_name(short)
            .map(TaskAction::Engine)
            .or_else(|| prov_modules::lookup(name).map(TaskAction::Module))
    }

    /// The canonical name (`copy`, `include_tasks`).
    pub fn name(&self) -> &'static str {
        match self {
            TaskAction::Module(spec) => spec.name,
            TaskAction::Engine(a) => a.name(),
        }
    }

    /// The engine action, if this is one.
    pub fn engine(&self) -> Option<EngineAction> {
        match self {
            TaskAction::Engine(a) => Some(*a),
            TaskAction::Module(_) => None,
        }
    }

    /// True when the task runs through the host's connection: modules, and `setup`.
    pub fn needs_connection(&self) -> bool {
        self.engine().is_none_or(EngineAction::needs_connection)
    }

    /// True for the engine action `a`.
    pub fn is(&self, a: EngineAction) -> bool {
        self.engine() == Some(a)
    }

    /// True for the module named `name` (canonical name).
    pub fn is_module(&self, name: &str) -> bool {
        matches!(self, TaskAction::Module(s) if s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_resolve_once() {
        assert_eq!(
            TaskAction::resolve("ansible.builtin.copy").unwrap().name(),
            "copy"
        );
        assert!(
            TaskAction::resolve("include")
                .unwrap()
                .is(EngineAction::IncludeTasks)
        );
        assert!(
            TaskAction::resolve("ansible.builtin.debug")
                .unwrap()
                .is(EngineAction::Debug)
        );
        assert!(TaskAction::resolve("systemd").unwrap().is_module("systemd"));
        assert!(
            TaskAction::resolve("systemd_service")
                .unwrap()
                .is_module("systemd")
        );
        assert!(TaskAction::resolve("no_such_module").is_none());
    }
}
