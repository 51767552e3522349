//! Lab tests of `mysql_db` and `mysql_user` on lab host lab4 with Debian 12's MariaDB (from
//! the lab's local apt repository, with python3-mysqldb and python3-pymysql for Ansible's
//! modules). Each case starts from the same state, runs the real community.mysql module,
//! captures the server's state (databases, accounts, hashes, grants) and Ansible's result,
//! resets, runs prov (`converge`: check mode predicts the real run, a second run changes
//! nothing) and compares. MariaDB is purged at the end unless it was installed before.
//!
//! Run under the shared lock: `flock -o /work/lab.lock cargo test -p prov-modules --test
//! mysql_lab`. Skips with a message when the lab is not up.

#[path = "support/server_lab.rs"]
mod support;

use serde_json::{Value, json};
use support::{NsConnection, ansible, apply, check, converge, lab_host, lab_lock};

const HOST: &str = "lab4";
const SOCKET: &str = "/run/mysqld/mysqld.sock";
const PACKAGES: &str = "mariadb-server python3-mysqldb python3-pymysql";

/// Runs SQL as root over the socket.
async fn sql(h: &NsConnection, q: &str) -> String {
    h.sh_ok(&format!("mysql -NB <<'PROV_SQL'\n{q}\nPROV_SQL"))
        .await
}

/// Databases, accounts (with their hashes) and grants the tests touch (named prov*).
async fn server_state(h: &NsConnection) -> String {
    h.sh_ok(
        r#"mysql -NBe "SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'prov%' ORDER BY 1; SELECT user, host, plugin, authentication_string, ssl_type, ssl_cipher, x509_issuer, x509_subject, max_questions, max_updates, max_connections, max_user_connections, max_statement_time FROM mysql.user WHERE user LIKE 'prov%' ORDER BY 1, 2; SELECT user, host, JSON_VALUE(Priv, '\$.account_locked') FROM mysql.global_priv WHERE user LIKE 'prov%' ORDER BY 1, 2"
mysql -NBe "SELECT CONCAT(QUOTE(user), '@', QUOTE(host)) FROM mysql.user WHERE user LIKE 'prov%' ORDER BY 1" | while read -r a; do mysql -NBe "SHOW GRANTS FOR $a"; done"#,
    )
    .await
}

/// Drops every prov* database and account, then runs `setup`.
async fn reset(h: &NsConnection, setup: &str) {
    h.sh_ok(
        r#"for d in $(mysql -NBe "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'prov%'"); do mysql -e "DROP DATABASE \`$d\`"; done
mysql -NBe "SELECT CONCAT(QUOTE(user), '@', QUOTE(host)) FROM mysql.user WHERE user LIKE 'prov%'" | while read -r a; do mysql -e "DROP USER $a"; done"#,
    )
    .await;
    if !setup.is_empty() {
        sql(h, setup).await;
    }
}

/// Runs the community.mysql module and prov from the same state; the server must end up the
/// same and the listed result fields must be equal. Returns prov's real-run result.
async fn same_as_ansible(
    h: &NsConnection,
    module: &str,
    args: Value,
    setup: &str,
    fields: &[&str],
) -> serde_json::Map<String, Value> {
    reset(h, setup).await;
    let theirs = ansible(HOST, &format!("community.mysql.{module}"), &args)
        .expect("the Ansible venv (comparisons are the point of this test)");
    // Ansible's ad-hoc output of a failure carries no `failed` key: its message tells.
    let msg = theirs["msg"].as_str().unwrap_or("");
    assert!(
        theirs.get("failed").is_none() && !msg.contains("rror") && !msg.contains("unable"),
        "ansible {module} failed: {theirs}"
    );
    let their_state = server_state(h).await;
    reset(h, setup).await;
    let ours = converge(h, module, args.clone()).await;
    assert_eq!(
        server_state(h).await,
        their_state,
        "{module} {args}: prov and Ansible leave the server different"
    );
    assert_eq!(ours.changed, theirs["changed"].as_bool().unwrap(), "{args}");
    for f in fields {
        assert_eq!(
            ours.result.get(*f),
            theirs.get(*f),
            "{module} {args}: result field {f}: prov {:?}, Ansible {:?}",
            ours.result,
            theirs
        );
    }
    ours.result
}

async fn install(h: &NsConnection) -> bool {
    let before = h
        .sh("dpkg-query -W -f '${Status}' mariadb-server 2>/dev/null | grep -q 'ok installed'")
        .await
        .success();
    h.sh_ok(&format!(
        "export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q {PACKAGES} >/dev/null 2>&1 || {{ apt-get update -q >/dev/null 2>&1; apt-get install -y -q {PACKAGES} >/dev/null; }}; systemctl start mariadb; for i in $(seq 30); do [ -S {SOCKET} ] && break; sleep 1; done"
    ))
    .await;
    before
}

async fn uninstall(h: &NsConnection) {
    h.sh_ok(
        "export DEBIAN_FRONTEND=noninteractive; systemctl stop mariadb; apt-get purge -y -q 'mariadb-*' 'mysql-common' 'galera-*' python3-mysqldb python3-pymysql >/dev/null 2>&1; apt-get autoremove --purge -y -q >/dev/null 2>&1; rm -rf /var/lib/mysql /etc/mysql /run/mysqld /var/log/mysql /root/prov-test.cnf; true",
    )
    .await;
}

#[tokio::test]
async fn mysql_db_and_mysql_user_work_as_in_ansible() {
    let _g = lab_lock().await;
    let Some(h) = lab_host(HOST) else { return };
    let was_installed = install(&h).await;
    // The cases run in their own task so that a failure still cleans up.
    let cases = tokio::spawn(async {
        let h = lab_host(HOST).expect("lab host");
        let tmp = "ls -d /tmp/tmp.* 2>/dev/null | sort";
        let tmp_before = h.sh_ok(tmp).await;
        databases(&h).await;
        users(&h).await;
        logins(&h).await;
        // The option files (they hold passwords) never outlive a run.
        assert_eq!(h.sh_ok(tmp).await, tmp_before, "temporary directories left");
    })
    .await;
    if let Some(h) = lab_host(HOST) {
        reset(&h, "").await;
        if !was_installed {
            uninstall(&h).await;
            let left = h
                .sh("dpkg -l 'mariadb-*' 2>/dev/null | grep -q '^ii' || [ -e /var/lib/mysql ]")
                .await;
            assert!(!left.success(), "MariaDB purged");
        }
    }
    if let Err(e) = cases {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn databases(h: &NsConnection) {
    let fields = ["db", "db_list", "executed_commands"];
    let args = json!({"name": ["prov_a", "prov_b"], "encoding": "utf8mb4",
        "collation": "utf8mb4_unicode_ci", "login_unix_socket": SOCKET});
    let r = same_as_ansible(h, "mysql_db", args, "CREATE DATABASE prov_b", &fields).await;
    assert_eq!(
        r["executed_commands"],
        json!(["CREATE DATABASE `prov_a` CHARACTER SET 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'"])
    );
    let args = json!({"name": "prov_a,prov_c", "state": "absent", "login_unix_socket": SOCKET});
    let r = same_as_ansible(h, "mysql_db", args, "CREATE DATABASE prov_a", &fields).await;
    assert_eq!(r["executed_commands"], json!(["DROP DATABASE `prov_a`"]));
    // Nothing to do: unchanged, no command.
    let args = json!({"name": "prov_a", "login_unix_socket": SOCKET});
    same_as_ansible(h, "mysql_db", args, "CREATE DATABASE prov_a", &fields).await;

    // The default login: root over the default socket, as geerlingguy.mysql's tasks run.
    reset(h, "").await;
    let real = converge(
        h,
        "mysql_db",
        json!({"name": "prov_default", "encoding": "latin1"}),
    )
    .await;
    assert_eq!(real.summary, ["create database prov_default"]);
    let predicted = check(h, "mysql_db", json!({"name": "prov_other"}))
        .await
        .unwrap();
    assert!(predicted.changed);
    assert!(
        predicted.result.get("executed_commands").is_none(),
        "not in check mode"
    );
    let cs = sql(h, "SELECT DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'prov_default'").await;
    assert_eq!(cs.trim(), "latin1");
}

async fn users(h: &NsConnection) {
    let fields = ["user", "msg", "password_changed", "attributes"];
    let socket = |mut v: Value| {
        v["login_unix_socket"] = json!(SOCKET);
        v
    };
    // A new user with a password (quotes and backslashes travel intact) and privileges.
    let args = socket(json!({"name": "prov_u", "password": "p'w\"\\ x",
        "priv": "prov_a.*:ALL,GRANT/prov_b.*:SELECT"}));
    same_as_ansible(h, "mysql_user", args, "", &fields).await;
    let existing = "CREATE USER prov_u@localhost IDENTIFIED BY 'old';\
        GRANT SELECT, INSERT ON prov_a.* TO prov_u@localhost;\
        GRANT SELECT ON prov_old.* TO prov_u@localhost WITH GRANT OPTION;";
    // Privileges replaced (prov_old revoked, INSERT revoked, UPDATE granted); same password.
    let args =
        socket(json!({"name": "prov_u", "password": "old", "priv": "prov_a.*:SELECT,UPDATE"}));
    same_as_ansible(h, "mysql_user", args, existing, &fields).await;
    // Appended privileges.
    let args = socket(
        json!({"name": "prov_u", "priv": {"prov_c.*": "SELECT", "prov_a.*": "DELETE"},
        "append_privs": true}),
    );
    same_as_ansible(h, "mysql_user", args, existing, &fields).await;
    // Subtracted privileges.
    let args = socket(json!({"name": "prov_u", "priv": "prov_a.*:INSERT", "subtract_privs": true}));
    same_as_ansible(h, "mysql_user", args, existing, &fields).await;
    // A new password; on_create leaves it.
    let args = socket(json!({"name": "prov_u", "password": "n3w-secret"}));
    let r = same_as_ansible(h, "mysql_user", args, existing, &fields).await;
    assert_eq!(r["password_changed"], json!(true));
    let args =
        socket(json!({"name": "prov_u", "password": "n3w-secret", "update_password": "on_create"}));
    same_as_ansible(h, "mysql_user", args, existing, &fields).await;
    // ALL on *.* with GRANT, as geerlingguy.mysql's default user.
    let args = socket(
        json!({"name": "prov_admin", "host": "LocalHost", "password": "x",
        "priv": "*.*:ALL,GRANT"}),
    );
    same_as_ansible(h, "mysql_user", args, "", &fields).await;
    // Plugins: a hash given as is, a switch to unix_socket, and on_new_username reusing the
    // password of the same name on another host.
    let hash = "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19";
    let args = socket(json!({"name": "prov_p", "plugin": "mysql_native_password",
        "plugin_hash_string": hash}));
    same_as_ansible(h, "mysql_user", args, "", &fields).await;
    let args = socket(json!({"name": "prov_u", "plugin": "unix_socket"}));
    same_as_ansible(h, "mysql_user", args, existing, &fields).await;
    let args = socket(json!({"name": "prov_u", "host": "%", "password": "other",
        "update_password": "on_new_username"}));
    same_as_ansible(h, "mysql_user", args, existing, &fields).await;
    // Resource limits, on a new account and an existing one.
    let args = socket(json!({"name": "prov_l", "resource_limits":
        {"MAX_USER_CONNECTIONS": 5, "MAX_QUERIES_PER_HOUR": "0", "MAX_STATEMENT_TIME": 2}}));
    same_as_ansible(h, "mysql_user", args, "", &fields).await;
    let args = socket(json!({"name": "prov_u", "resource_limits": {"MAX_USER_CONNECTIONS": 3}}));
    same_as_ansible(h, "mysql_user", args, existing, &fields).await;
    // TLS requirements: set on a new account, changed, dropped when not given.
    let args = socket(json!({"name": "prov_t", "password": "x", "tls_requires": {"ssl": null}}));
    same_as_ansible(h, "mysql_user", args, "", &fields).await;
    let with_ssl = "CREATE USER prov_t@localhost IDENTIFIED BY 'x' REQUIRE SSL;";
    let args = socket(json!({"name": "prov_t", "tls_requires": {"X509": null}}));
    same_as_ansible(h, "mysql_user", args, with_ssl, &fields).await;
    let args = socket(json!({"name": "prov_t"}));
    same_as_ansible(h, "mysql_user", args, with_ssl, &fields).await;
    let args = socket(
        json!({"name": "prov_t", "tls_requires": {"SUBJECT": "/CN=app", "ISSUER": "/CN=ca"}}),
    );
    same_as_ansible(h, "mysql_user", args, with_ssl, &fields).await;
    // Locked on creation, locked, unlocked.
    let args = socket(json!({"name": "prov_k", "locked": true}));
    same_as_ansible(h, "mysql_user", args, "", &fields).await;
    let args = socket(json!({"name": "prov_u", "locked": true}));
    same_as_ansible(h, "mysql_user", args, existing, &fields).await;
    let locked = format!("{existing} ALTER USER prov_u@localhost ACCOUNT LOCK;");
    let args = socket(json!({"name": "prov_u", "locked": false}));
    same_as_ansible(h, "mysql_user", args, &locked, &fields).await;
    // session_vars (ANSI quotes: privileges compared with `"`-quoted names) and force_context.
    let args = socket(
        json!({"name": "prov_s", "password": "x", "force_context": true,
        "session_vars": {"sql_mode": "ANSI", "max_statement_time": 100},
        "priv": "prov_a.*:SELECT/prov_b.t1:INSERT"}),
    );
    let tables = "CREATE DATABASE prov_b; CREATE TABLE prov_b.t1 (a INT);";
    same_as_ansible(h, "mysql_user", args, tables, &fields).await;
    // host_all: every host of the name.
    let two = format!("{existing} CREATE USER prov_u@'%' IDENTIFIED BY 'old2';");
    let args = socket(json!({"name": "prov_u", "host_all": true, "priv": "prov_a.*:SELECT"}));
    same_as_ansible(h, "mysql_user", args, &two, &fields).await;
    let args = socket(json!({"name": "prov_u", "host_all": true, "state": "absent"}));
    same_as_ansible(h, "mysql_user", args, &two, &fields).await;
    // Removed, and absent already.
    let args = socket(json!({"name": "prov_u", "state": "absent"}));
    let r = same_as_ansible(h, "mysql_user", args.clone(), existing, &fields).await;
    assert_eq!(r["msg"], "User deleted");
    let r = same_as_ansible(h, "mysql_user", args, "", &fields).await;
    assert_eq!(r["msg"], "User doesn't exist");
    // The default login (root over the default socket), as geerlingguy.mysql's tasks run.
    reset(h, "").await;
    let args = json!({"name": "prov_d", "password": "x", "priv": "prov_d.*:SELECT"});
    let real = converge(h, "mysql_user", args).await;
    assert_eq!(
        real.summary,
        [
            "create user 'prov_d'@'localhost' with a password",
            "user 'prov_d'@'localhost': grant SELECT on `prov_d`.*",
            "user 'prov_d'@'localhost': grant USAGE on *.*",
        ]
    );
    // The anonymous users geerlingguy.mysql removes.
    let args = socket(json!({"name": "", "host": "localhost", "state": "absent"}));
    same_as_ansible(h, "mysql_user", args, "CREATE USER ''@'localhost'", &fields).await;
}

/// Logins: config_file's credentials (over TCP, where root's unix_socket login does not
/// apply), login arguments overriding them, and Ansible's message when none works.
async fn logins(h: &NsConnection) {
    reset(
        h,
        "CREATE USER prov_admin@'127.0.0.1' IDENTIFIED BY 'adm\"in pw'; GRANT ALL ON *.* TO prov_admin@'127.0.0.1' WITH GRANT OPTION;",
    )
    .await;
    h.sh_ok("printf '[client]\\nuser=prov_admin\\npassword=\"adm\\\\\"in pw\"\\n' > /root/prov-test.cnf && chmod 600 /root/prov-test.cnf")
        .await;
    let args = json!({"name": "prov_viafile", "login_host": "127.0.0.1",
        "config_file": "/root/prov-test.cnf"});
    let real = converge(h, "mysql_db", args).await;
    assert!(real.changed);
    let args = json!({"name": "prov_viafile", "login_host": "127.0.0.1", "state": "absent",
        "login_user": "prov_admin", "login_password": "adm\"in pw", "config_file": ""});
    converge(h, "mysql_db", args).await;
    let args = json!({"name": "prov_x", "login_host": "127.0.0.1",
        "config_file": "/root/prov-test.cnf", "login_password": "wrong"});
    let e = check(h, "mysql_db", args)
        .await
        .expect_err("wrong password fails");
    assert!(
        e.to_string().contains("unable to connect to database")
            && e.to_string().contains("Access denied"),
        "{e}"
    );
    // check_implicit_admin: root without a password over the socket works first.
    let args = json!({"name": "prov_implicit", "check_implicit_admin": true,
        "login_user": "nobody", "login_password": "wrong"});
    let r = apply(h, "mysql_db", args).await.expect("implicit admin");
    assert!(r.changed);
    h.sh_ok("rm -f /root/prov-test.cnf").await;
}
