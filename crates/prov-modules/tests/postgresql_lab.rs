//! Lab tests of `postgresql_user`, `postgresql_db` and `postgresql_privs` on lab host lab3
//! with Debian 12's PostgreSQL 15 (from the lab's local apt repository, with python3-psycopg2
//! for Ansible's modules). As geerlingguy.postgresql runs them, both tools run as the
//! `postgres` system user (become, sudo) and log in over the unix socket. Each case starts
//! from the same state, runs the real community.postgresql module, captures the server's
//! state (roles with their attributes and the kind of their password hash, databases,
//! access control lists) and Ansible's result, resets, runs prov (check mode predicts the
//! real run, a second run changes nothing) and compares. PostgreSQL is purged at the end
//! unless it was installed before.
//!
//! Run under the shared lock: `flock -o /work/lab.lock cargo test -p prov-modules --test
//! postgresql_lab`. Skips with a message when the lab is not up.

#[path = "support/server_lab.rs"]
mod support;

use std::path::Path;

use prov_core::Become;
use serde_json::{Map, Value, json};
use support::{LAB_DIR, NsConnection, Planned, VENV, lab_addr, lab_host, lab_lock, run_as};

const HOST: &str = "lab3";
const SOCKET: &str = "/var/run/postgresql";
const PACKAGES: &str = "postgresql python3-psycopg2";

/// Runs SQL (psql meta-commands allowed) as the postgres superuser.
async fn psql(h: &NsConnection, q: &str) -> String {
    h.sh_ok(&format!(
        "cd / && runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 <<'PROV_SQL'\n{q}\nPROV_SQL"
    ))
    .await
}

/// Roles, databases and privileges the tests touch (named prov*). SCRAM verifiers are salted
/// at random: their kind is compared; MD5 hashes are compared whole.
async fn server_state(h: &NsConnection) -> String {
    let mut s = psql(
        h,
        r"SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin, rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil,
  CASE WHEN rolpassword IS NULL THEN 'no password' WHEN rolpassword LIKE 'SCRAM-SHA-256$%' THEN 'scram' ELSE rolpassword END,
  (SELECT rolconfig FROM pg_roles r WHERE r.oid = a.oid), shobj_description(oid, 'pg_authid') FROM pg_authid a WHERE rolname LIKE 'prov%' ORDER BY 1;
SELECT datname, pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datcollate, datctype, datconnlimit, datacl, shobj_description(oid, 'pg_database') FROM pg_database WHERE datname LIKE 'prov%' OR datname = 'postgres' ORDER BY 1;",
    )
    .await;
    if psql(h, "SELECT 1 FROM pg_database WHERE datname = 'prov_p'")
        .await
        .trim()
        == "1"
    {
        s += &psql(
            h,
            r"\c prov_p
SELECT relname, relkind, relacl FROM pg_class WHERE relnamespace IN (SELECT oid FROM pg_namespace WHERE nspname IN ('public', 'prov_s')) ORDER BY 1;
SELECT nspname, nspacl FROM pg_namespace WHERE nspname IN ('public', 'prov_s') ORDER BY 1;
SELECT pg_get_userbyid(defaclrole), defaclnamespace::regnamespace, defaclobjtype, defaclacl FROM pg_default_acl ORDER BY 1, 2, 3;",
        )
        .await;
    }
    s
}

/// Drops every prov* database and role (their privileges first), then runs `setup`.
async fn reset(h: &NsConnection, setup: &str) {
    psql(
        h,
        r"SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database WHERE datname LIKE 'prov%' \gexec
SELECT format('DROP OWNED BY %I', rolname) FROM pg_roles WHERE rolname LIKE 'prov%' \gexec
\c template1
SELECT format('DROP OWNED BY %I', rolname) FROM pg_roles WHERE rolname LIKE 'prov%' \gexec
SELECT format('DROP ROLE %I', rolname) FROM pg_roles WHERE rolname LIKE 'prov%' \gexec",
    )
    .await;
    if !setup.is_empty() {
        psql(h, setup).await;
    }
}

fn as_postgres() -> Become {
    Become {
        user: "postgres".into(),
        ..Become::default()
    }
}

async fn plan(
    h: &NsConnection,
    module: &str,
    args: &Value,
    check: bool,
) -> Result<Planned, String> {
    run_as(
        h,
        module,
        args.clone(),
        check,
        &support::lab_facts(),
        Some(&as_postgres()),
    )
    .await
    .map_err(|e| e.to_string())
}

/// `support::converge` as the postgres user: check mode predicts the real run, which a check
/// and a second run then find converged.
async fn converge(h: &NsConnection, module: &str, args: &Value) -> Planned {
    let predicted = plan(h, module, args, true)
        .await
        .unwrap_or_else(|e| panic!("{module} check: {e}"));
    let real = plan(h, module, args, false)
        .await
        .unwrap_or_else(|e| panic!("{module}: {e}"));
    assert_eq!(
        predicted.changed, real.changed,
        "{module} {args}: check predicted {predicted:#?}\nreal {real:#?}"
    );
    assert_eq!(
        predicted.summary, real.summary,
        "{module} {args}: check mode must predict the real change"
    );
    let again = plan(h, module, args, true)
        .await
        .expect("check after converge");
    assert!(
        !again.changed,
        "{module} {args}: check on a converged server: {again:#?}"
    );
    let again = plan(h, module, args, false).await.expect("second run");
    assert!(
        !again.changed,
        "{module} {args}: second run must be unchanged: {again:#?}"
    );
    real
}

/// The real community.postgresql module, run by Ansible as the postgres user (become).
fn ansible(module: &str, args: &Value) -> Value {
    assert!(
        Path::new(VENV).exists(),
        "the Ansible venv (comparisons are the point of this test)"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let cfg = tmp.path().join("ansible.cfg");
    std::fs::write(&cfg, "[defaults]\n").expect("cfg");
    let out = std::process::Command::new(VENV)
        .args(["-i", &format!("{},", lab_addr(HOST)), "all", "-u", "root"])
        .args(["--private-key", &format!("{LAB_DIR}/id_ed25519")])
        .args(["--become", "--become-user", "postgres"])
        .args(["-m", &format!("community.postgresql.{module}"), "-a", &args.to_string()])
        .env("ANSIBLE_CONFIG", &cfg)
        .env("ANSIBLE_HOST_KEY_CHECKING", "True")
        .env(
            "ANSIBLE_SSH_COMMON_ARGS",
            format!("-o UserKnownHostsFile={LAB_DIR}/known_hosts -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes"),
        )
        .env("ANSIBLE_PIPELINING", "True")
        .env("ANSIBLE_PYTHON_INTERPRETER", "auto_silent")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_DEPRECATION_WARNINGS", "False")
        .env("ANSIBLE_LOCAL_TEMP", tmp.path().join("lt"))
        .env("ANSIBLE_SSH_CONTROL_PATH_DIR", tmp.path().join("cp").display().to_string())
        .output()
        .expect("ansible runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let start = text
        .find(" => {")
        .unwrap_or_else(|| panic!("no result from ansible: {text}"));
    let mut v: Value = serde_json::from_str(&text[start + 4..]).expect("ansible's JSON result");
    let status = text[..start].rsplit('|').next().unwrap_or("").trim();
    if matches!(status, "FAILED!" | "UNREACHABLE!") {
        v["failed"] = json!(true);
    }
    v
}

/// Runs the module with Ansible and with prov from the same state; the server must end up
/// the same and `fields` of the results equal. Returns prov's real-run result.
async fn same_as_ansible(
    h: &NsConnection,
    module: &str,
    args: Value,
    setup: &str,
    fields: &[&str],
) -> Map<String, Value> {
    reset(h, setup).await;
    let theirs = ansible(module, &args);
    assert!(
        theirs.get("failed").is_none(),
        "ansible {module} {args} failed: {theirs}"
    );
    let their_state = server_state(h).await;
    reset(h, setup).await;
    let ours = converge(h, module, &args).await;
    assert_eq!(
        server_state(h).await,
        their_state,
        "{module} {args}: prov and Ansible leave the server different"
    );
    assert_eq!(
        ours.changed,
        theirs["changed"].as_bool().unwrap(),
        "{module} {args}: changed"
    );
    assert!(
        fields.is_empty() || theirs.get(fields[0]).is_some(),
        "{module}: Ansible's result has {}: {theirs}",
        fields[0]
    );
    eprintln!(
        "{module} {args}: changed {}, Ansible {:?}",
        ours.changed,
        fields.first().map(|f| &theirs[*f])
    );
    for f in fields {
        assert_eq!(
            ours.result.get(*f),
            theirs.get(*f),
            "{module} {args}: result field {f}: prov {:?}, Ansible {theirs}",
            ours.result
        );
    }
    ours.result
}

/// Both fail from the same state, with the same message.
async fn same_failure(h: &NsConnection, module: &str, args: Value, setup: &str) {
    reset(h, setup).await;
    let theirs = ansible(module, &args);
    assert_eq!(theirs["failed"], json!(true), "{theirs}");
    let state = server_state(h).await;
    reset(h, setup).await;
    let ours = plan(h, module, &args, false)
        .await
        .expect_err("prov fails too");
    assert!(
        ours.contains(theirs["msg"].as_str().unwrap().trim_end()),
        "prov: {ours}\nAnsible: {theirs}"
    );
    assert_eq!(
        server_state(h).await,
        state,
        "{module} {args}: failures leave the server different"
    );
}

#[tokio::test]
async fn postgresql_modules_work_as_in_ansible() {
    let _g = lab_lock().await;
    let Some(h) = lab_host(HOST) else { return };
    let added = h.install(PACKAGES).await;
    h.sh_ok(&format!(
        "systemctl start postgresql; for i in $(seq 60); do [ -S {SOCKET}/.s.PGSQL.5432 ] && break; sleep 1; done; [ -S {SOCKET}/.s.PGSQL.5432 ]"
    ))
    .await;
    // The cases run in their own task so that a failure still cleans up.
    let cases = tokio::spawn(async {
        let h = lab_host(HOST).expect("lab host");
        users(&h).await;
        databases(&h).await;
        privileges(&h).await;
        logins(&h).await;
    })
    .await;
    if let Some(h) = lab_host(HOST) {
        if added.contains("postgresql") {
            h.sh_ok("systemctl stop postgresql").await;
            h.purge(&format!("{added} postgresql-15 postgresql-client-15 postgresql-common postgresql-client-common")).await;
            h.sh_ok("rm -rf /var/lib/postgresql /etc/postgresql /etc/postgresql-common /var/log/postgresql /var/run/postgresql; userdel postgres 2>/dev/null; groupdel postgres 2>/dev/null; true").await;
            let left = h
                .sh("dpkg -l 'postgresql*' 2>/dev/null | grep -q '^ii'")
                .await;
            assert!(!left.success(), "PostgreSQL purged");
        } else {
            reset(&h, "").await;
        }
    }
    if let Err(e) = cases {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn users(h: &NsConnection) {
    let f = ["user", "queries", "user_removed"];
    let sock = |mut v: Value| {
        v["login_unix_socket"] = json!(SOCKET);
        v
    };
    // A new user: SCRAM password (quotes and backslashes travel intact), one flag, limit,
    // expiry, comment, configuration.
    let args = sock(
        json!({"name": "prov_u", "password": "p'w\"\\ x", "role_attr_flags": "CREATEDB",
        "conn_limit": 4, "expires": "2031-01-01 00:00:00+00", "comment": "the app's", "configuration": {"work_mem": "16MB"}}),
    );
    same_as_ansible(h, "postgresql_user", args, "", &f).await;
    let login = h
        .sh("PGPASSWORD='p'\\''w\"\\ x' psql -XAtq -h 127.0.0.1 -U prov_u -d postgres -c 'SELECT 1'")
        .await;
    assert!(
        login.success(),
        "the password prov set logs in: {}",
        login.stderr_text()
    );
    let existing = "CREATE USER prov_u PASSWORD 'old' CONNECTION LIMIT 2; COMMENT ON ROLE prov_u IS 'c'; ALTER ROLE prov_u SET search_path TO a;";
    // Same password (the SCRAM verifier checked), nothing else: unchanged.
    let args = sock(json!({"name": "prov_u", "password": "old"}));
    same_as_ansible(h, "postgresql_user", args, existing, &f).await;
    // Another password; flags; no_password_changes; conn_limit and expiry.
    let args = sock(json!({"name": "prov_u", "password": "n3w"}));
    same_as_ansible(h, "postgresql_user", args, existing, &f).await;
    let args = sock(json!({"name": "prov_u", "role_attr_flags": "NOLOGIN"}));
    same_as_ansible(h, "postgresql_user", args, existing, &f).await;
    let args = sock(
        json!({"name": "prov_u", "password": "zz", "no_password_changes": true, "role_attr_flags": "superuser", "conn_limit": 9}),
    );
    same_as_ansible(h, "postgresql_user", args, existing, &f).await;
    let args = sock(json!({"name": "prov_u", "conn_limit": 2, "expires": "infinity"}));
    same_as_ansible(h, "postgresql_user", args, existing, &f).await;
    // The password removed; an MD5 hash given as is (kept as is, then unchanged).
    let args = sock(json!({"name": "prov_u", "password": ""}));
    same_as_ansible(h, "postgresql_user", args, existing, &f).await;
    let md5 = "md54a0a68b43b6cd5cf266fa02f196e2371";
    let args = sock(json!({"name": "prov_m", "password": md5, "encrypted": true}));
    same_as_ansible(h, "postgresql_user", args.clone(), "", &f).await;
    same_as_ansible(
        h,
        "postgresql_user",
        args,
        &format!("CREATE USER prov_m PASSWORD '{md5}'"),
        &f,
    )
    .await;
    // SCRAM hashing and an MD5 password: changed (the module's rule).
    let args = sock(json!({"name": "prov_m", "password": "secret"}));
    same_as_ansible(
        h,
        "postgresql_user",
        args,
        &format!("CREATE USER prov_m PASSWORD '{md5}'"),
        &f,
    )
    .await;
    // Comment and configuration: changed, reset, kept.
    let args = sock(
        json!({"name": "prov_u", "comment": "", "configuration": {"work_mem": "8MB"},
        "reset_unspecified_configuration": true}),
    );
    same_as_ansible(h, "postgresql_user", args, existing, &f).await;
    let args =
        sock(json!({"name": "prov_u", "comment": "c", "configuration": {"search_path": "a"}}));
    same_as_ansible(h, "postgresql_user", args, existing, &f).await;
    // Removed; absent already; one that cannot be dropped with fail_on_user: false.
    let args = sock(json!({"name": "prov_u", "state": "absent"}));
    same_as_ansible(h, "postgresql_user", args.clone(), existing, &f).await;
    same_as_ansible(h, "postgresql_user", args, "", &f).await;
    let owner = "CREATE USER prov_u; CREATE DATABASE prov_owned OWNER prov_u;";
    let args = sock(json!({"name": "prov_u", "state": "absent", "fail_on_user": false}));
    let r = same_as_ansible(h, "postgresql_user", args, owner, &f).await;
    assert_eq!(r["user_removed"], json!(false));
    same_failure(
        h,
        "postgresql_user",
        sock(json!({"name": "prov_u", "state": "absent"})),
        owner,
    )
    .await;
    // Invalid flags fail as the module fails.
    same_failure(
        h,
        "postgresql_user",
        sock(json!({"name": "prov_u", "role_attr_flags": "FLY"})),
        "",
    )
    .await;
}

async fn databases(h: &NsConnection) {
    let f = ["db", "executed_commands"];
    // geerlingguy.postgresql's arguments: login_host localhost with the socket directory.
    let role = |mut v: Value| {
        v["login_host"] = json!("localhost");
        v["login_unix_socket"] = json!(SOCKET);
        v["login_user"] = json!("postgres");
        v
    };
    let args = role(
        json!({"name": "prov_db", "lc_collate": "C.UTF-8", "lc_ctype": "C.UTF-8",
        "encoding": "UTF-8", "template": "template0", "owner": "prov_o", "conn_limit": 7, "comment": "it's mine"}),
    );
    same_as_ansible(h, "postgresql_db", args.clone(), "CREATE USER prov_o", &f).await;
    let created = "CREATE USER prov_o; CREATE DATABASE prov_db TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'";
    same_as_ansible(
        h,
        "postgresql_db",
        args,
        &format!(
            "{created} OWNER prov_o CONNECTION LIMIT 7; COMMENT ON DATABASE prov_db IS 'it''s mine'"
        ),
        &f,
    )
    .await;
    // Owner, limit and comment changed on an existing database.
    let args = role(
        json!({"name": "prov_db", "owner": "prov_o", "conn_limit": "-1", "comment": "new", "encoding": "utf8"}),
    );
    same_as_ansible(h, "postgresql_db", args, created, &f).await;
    // What cannot change fails, as the module's real run.
    same_failure(
        h,
        "postgresql_db",
        role(json!({"name": "prov_db", "encoding": "LATIN1"})),
        created,
    )
    .await;
    same_failure(
        h,
        "postgresql_db",
        role(json!({"name": "prov_db", "lc_ctype": "C"})),
        created,
    )
    .await;
    // A missing owner: the server's error.
    same_failure(
        h,
        "postgresql_db",
        role(json!({"name": "prov_db", "owner": "prov_nobody"})),
        "",
    )
    .await;
    // Dropped, absent already, dropped by force with a session open elsewhere.
    let args = role(json!({"name": "prov_db", "state": "absent"}));
    same_as_ansible(h, "postgresql_db", args.clone(), created, &f).await;
    same_as_ansible(h, "postgresql_db", args, "", &f).await;
    let args = role(json!({"name": "prov_db", "state": "absent", "force": true}));
    same_as_ansible(h, "postgresql_db", args, created, &f).await;
    // Check mode lists no commands, as the module's.
    reset(h, "").await;
    let p = plan(h, "postgresql_db", &json!({"name": "prov_db"}), true)
        .await
        .unwrap();
    assert!(p.changed);
    assert_eq!(p.result["executed_commands"], json!([]));
}

/// `queries` is compared where the module's statement does not depend on the order of a
/// Python set (several privileges or object kinds are joined in set order, which varies).
fn privs_fields(args: &Value) -> &'static [&'static str] {
    let several = |k: &str| args[k].as_str().is_some_and(|v| v.contains(','));
    if several("privs") || (args["type"] == "default_privs" && several("objs")) {
        &[]
    } else {
        &["queries"]
    }
}

async fn privileges(h: &NsConnection) {
    let setup = r"CREATE USER prov_r; CREATE USER prov_w; CREATE DATABASE prov_p;
\c prov_p
CREATE SCHEMA prov_s; CREATE TABLE prov_s.t1 (a int); CREATE TABLE prov_s.t2 (a int); CREATE TABLE public.t3 (a int);
CREATE SEQUENCE prov_s.q1;";
    let db = |mut v: Value| {
        v["db"] = json!("prov_p");
        v["login_unix_socket"] = json!(SOCKET);
        v
    };
    let cases = [
        json!({"type": "database", "privs": "CONNECT,TEMP", "roles": "prov_r,prov_w"}),
        json!({"type": "database", "objs": "prov_p", "privs": "ALL", "roles": "PUBLIC", "state": "absent"}),
        json!({"objs": "ALL_IN_SCHEMA", "schema": "prov_s", "privs": "SELECT", "roles": "prov_r"}),
        json!({"objs": "t3", "privs": "SELECT,INSERT", "roles": "prov_w", "grant_option": true}),
        json!({"type": "sequence", "objs": "ALL_IN_SCHEMA", "schema": "prov_s", "privs": "USAGE", "roles": "prov_r"}),
        json!({"type": "schema", "objs": "prov_s", "privs": "USAGE,CREATE", "roles": "prov_w"}),
        json!({"type": "default_privs", "objs": "TABLES", "schema": "prov_s", "privs": "SELECT", "roles": "prov_r", "target_roles": "prov_w"}),
        json!({"type": "database", "privs": "CONNECT", "roles": "prov_r,prov_missing", "fail_on_role": false}),
    ];
    for c in cases {
        let f = privs_fields(&c);
        same_as_ansible(h, "postgresql_privs", db(c), setup, f).await;
    }
    // Already granted: unchanged, the statement still listed; grant option revoked; revoked.
    let granted = format!(
        "{setup}\nGRANT SELECT ON prov_s.t1 TO prov_r WITH GRANT OPTION;\nGRANT CONNECT ON DATABASE prov_p TO prov_r;"
    );
    let cases = [
        json!({"type": "database", "privs": "CONNECT", "roles": "prov_r"}),
        json!({"objs": "t1", "schema": "prov_s", "privs": "SELECT", "roles": "prov_r", "grant_option": false}),
        json!({"objs": "t1,t2", "schema": "prov_s", "privs": "SELECT", "roles": "prov_r", "state": "absent"}),
        json!({"type": "default_privs", "objs": "ALL_DEFAULT", "privs": "ALL", "roles": "prov_r", "state": "absent"}),
    ];
    for c in cases {
        let f = privs_fields(&c);
        same_as_ansible(h, "postgresql_privs", db(c), &granted, f).await;
    }
    same_failure(
        h,
        "postgresql_privs",
        db(json!({"type": "database", "privs": "CONNECT", "roles": "prov_missing"})),
        setup,
    )
    .await;
    same_failure(
        h,
        "postgresql_privs",
        db(json!({"type": "schema", "objs": "nope", "privs": "USAGE", "roles": "prov_r"})),
        setup,
    )
    .await;
}

/// The default login (no login arguments: postgres over libpq's default socket), and a
/// password login over TCP; a wrong password fails as the module's connection does.
async fn logins(h: &NsConnection) {
    reset(h, "CREATE USER prov_admin SUPERUSER PASSWORD 'adm''in'").await;
    let real = converge(h, "postgresql_db", &json!({"name": "prov_plain"})).await;
    assert_eq!(real.summary, ["create database prov_plain"]);
    let args = json!({"name": "prov_tcp", "login_host": "127.0.0.1", "login_user": "prov_admin",
        "login_password": "adm'in", "login_db": "postgres"});
    let real = converge(h, "postgresql_user", &args).await;
    assert_eq!(real.result["queries"], json!(["CREATE USER \"prov_tcp\" "]));
    let args = json!({"name": "prov_tcp2", "login_host": "127.0.0.1", "login_user": "prov_admin",
        "login_password": "wrong"});
    let theirs = ansible("postgresql_user", &args);
    let ours = plan(h, "postgresql_user", &args, true)
        .await
        .expect_err("wrong password");
    assert!(
        ours.contains(theirs["msg"].as_str().unwrap().trim_end()),
        "prov: {ours}\nAnsible: {theirs}"
    );
    // session_role: statements run as that role.
    reset(h, "CREATE ROLE prov_ops CREATEROLE").await;
    let args = json!({"name": "prov_byops", "session_role": "prov_ops"});
    same_as_ansible(
        h,
        "postgresql_user",
        args,
        "CREATE ROLE prov_ops CREATEROLE",
        &["queries"],
    )
    .await;
    reset(h, "").await;
}
