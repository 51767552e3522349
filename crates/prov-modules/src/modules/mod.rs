//! One file per module. Each exposes `SPEC` (its name and builder); adding a module is one new
//! file here plus its name in [`modules!`] below (docs/modules.md).

use crate::ModuleSpec;

/// Declares the module files and lists their `SPEC`s in [`REGISTRY`], in one place.
macro_rules! modules {
    ($($module:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// Every module, by name.
        pub static REGISTRY: &[ModuleSpec] = &[$($module::SPEC),*];
    };
}

modules!(
    command,
    shell,
    copy,
    template,
    file,
    lineinfile,
    blockinfile,
    stat,
    apt,
    package,
    service,
    systemd,
    firewall,
    user,
    group,
    sysctl,
    wait_for,
    redis_cluster,
    authorized_key,
    timezone,
    service_facts,
    package_facts,
    apt_repository,
    deb822_repository,
    debconf,
    pam_limits,
    ini_file,
    replace,
    slurp,
    find,
    get_url,
    unarchive,
    raw,
    script,
    uri,
    ping,
    wait_for_connection,
    getent,
    hostname,
    known_hosts,
    alternatives,
    cron,
    mount,
    reboot,
    apt_key,
    locale_gen,
    pip,
    dpkg_selections,
    tempfile,
    fetch,
    ufw,
    iptables,
    modprobe,
    git,
    apache2_module,
    mysql_db,
    mysql_user,
    pamd,
    openssh_keypair,
    postgresql_user,
    postgresql_db,
    postgresql_privs,
);
