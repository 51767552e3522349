//! One file per module. Each exposes `build(args) -> Box<dyn Module>`; [`REGISTRY`] names them.

use crate::ModuleSpec;

pub mod apt;
pub mod authorized_key;
pub mod blockinfile;
pub mod command;
pub mod copy;
pub mod file;
pub mod firewall;
pub mod group;
pub mod lineinfile;
pub mod package;
pub mod redis_cluster;
pub mod service;
pub mod service_facts;
pub mod shell;
pub mod stat;
pub mod sysctl;
pub mod template;
pub mod timezone;
pub mod user;
pub mod wait_for;

/// Every module, by name.
pub static REGISTRY: &[ModuleSpec] = &[
    ModuleSpec {
        name: "command",
        aliases: &[],
        free_form: true,
        build: command::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "shell",
        aliases: &[],
        free_form: true,
        build: shell::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "copy",
        aliases: &[],
        free_form: false,
        build: copy::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "template",
        aliases: &[],
        free_form: false,
        build: template::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "file",
        aliases: &[],
        free_form: false,
        build: file::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "lineinfile",
        aliases: &[],
        free_form: false,
        build: lineinfile::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "blockinfile",
        aliases: &[],
        free_form: false,
        build: blockinfile::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "stat",
        aliases: &[],
        free_form: false,
        build: stat::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "apt",
        aliases: &[],
        free_form: false,
        build: apt::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "package",
        aliases: &[],
        free_form: false,
        build: package::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "service",
        aliases: &["systemd", "systemd_service"],
        free_form: false,
        build: service::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "firewall",
        aliases: &["nftables"],
        free_form: false,
        build: firewall::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "user",
        aliases: &[],
        free_form: false,
        build: user::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "group",
        aliases: &[],
        free_form: false,
        build: group::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "sysctl",
        aliases: &[],
        free_form: false,
        build: sysctl::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "wait_for",
        aliases: &[],
        free_form: false,
        build: wait_for::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "redis_cluster",
        aliases: &[],
        free_form: false,
        build: redis_cluster::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "authorized_key",
        aliases: &[],
        free_form: false,
        build: authorized_key::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "timezone",
        aliases: &[],
        free_form: false,
        build: timezone::build,
        returns_facts: &[],
    },
    ModuleSpec {
        name: "service_facts",
        aliases: &[],
        free_form: false,
        build: service_facts::build,
        returns_facts: &["services"],
    },
];
