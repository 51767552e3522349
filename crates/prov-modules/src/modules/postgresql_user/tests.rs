use super::*;
use crate::server_util::testing::output;

fn user(args: Value) -> PgUser {
    parse(args).unwrap()
}

fn server(role: Option<Role>) -> Server {
    Server {
        version: 150000,
        encryption: "scram-sha-256".into(),
        role,
    }
}

fn role() -> Role {
    Role {
        flags: FLAGS
            .iter()
            .map(|(f, _)| (f.to_string(), *f == "LOGIN" || *f == "INHERIT"))
            .collect(),
        conn_limit: -1,
        ..Role::default()
    }
}

fn shown(d: &Decision) -> Vec<&str> {
    d.queries.iter().map(|q| q.shown.as_str()).collect()
}

const SCRAM: &str = "SCRAM-SHA-256$4096:MDEyMzQ1Njc4OWFiY2RlZg==$VhVaHS4TJI8qAXIVdE+Bvt28+bLNI916oqrWrlH7gW4=:l9uQssnBz/giD/nAU7VhQPygB0WXOfyJpf8Ms6NpOeA=";
const SCRAM_PW: &str = "p'w\"\\ x";

#[test]
fn a_missing_role_is_created_as_the_module_writes_it() {
    let u = user(json!({"name": "app", "password": "s'x", "role_attr_flags": "createdb,NOSUPERUSER,createdb",
        "expires": "infinity", "conn_limit": "5", "comment": "the app"}));
    let d = u.decide(&server(None)).unwrap();
    assert_eq!(
        shown(&d),
        [
            "CREATE USER \"app\" WITH ENCRYPTED PASSWORD %(password)s VALID UNTIL %(expires)s CONNECTION LIMIT 5 CREATEDB NOSUPERUSER",
            "COMMENT ON ROLE \"app\" IS 'the app'",
        ]
    );
    assert_eq!(
        d.queries[0].sql,
        "CREATE USER \"app\" WITH ENCRYPTED PASSWORD 's''x' VALID UNTIL 'infinity' CONNECTION LIMIT 5 CREATEDB NOSUPERUSER"
    );
    assert_eq!(d.queries[0].summary, "create role app with a password");
    // No flags: the module's trailing space.
    let d = user(json!({"name": "app"})).decide(&server(None)).unwrap();
    assert_eq!(shown(&d), ["CREATE USER \"app\" "]);
    let e = user(json!({"name": "app", "role_attr_flags": "CREATEDB,FLY"}))
        .decide(&server(None))
        .unwrap_err();
    assert_eq!(e, "Invalid role_attr_flags specified: FLY");
    let e = user(json!({"name": "a", "role_attr_flags": "BYPASSRLS"}))
        .decide(&Server { version: 90400, ..server(None) })
        .unwrap_err();
    assert!(e.contains("BYPASSRLS"));
}

#[test]
fn passwords_are_compared_as_the_module_compares_them() {
    let with = |pw: Option<&str>| {
        let mut r = role();
        r.password = pw.map(str::to_owned);
        server(Some(r))
    };
    // A SCRAM verifier checked against the password: same, different.
    let u = user(json!({"name": "app", "password": SCRAM_PW}));
    assert!(u.decide(&with(Some(SCRAM))).unwrap().queries.is_empty());
    let u = user(json!({"name": "app", "password": "other"}));
    let d = u.decide(&with(Some(SCRAM))).unwrap();
    assert_eq!(shown(&d), ["ALTER USER \"app\" WITH ENCRYPTED PASSWORD %(password)s "]);
    assert_eq!(d.queries[0].summary, "alter role app: password");
    // A SCRAM verifier given: compared as text.
    let u = user(json!({"name": "app", "password": SCRAM}));
    assert!(u.decide(&with(Some(SCRAM))).unwrap().queries.is_empty());
    // md5 hashing: md5(password + name).
    let md5 = Server {
        encryption: "md5".into(),
        ..with(Some("md54a0a68b43b6cd5cf266fa02f196e2371"))
    };
    let u = user(json!({"name": "alice", "password": "secret"}));
    assert!(u.decide(&md5).unwrap().queries.is_empty());
    let u = user(json!({"name": "alice", "password": "md54a0a68b43b6cd5cf266fa02f196e2371"}));
    assert!(u.decide(&md5).unwrap().queries.is_empty());
    // scram hashing and an md5 (or no) password: always changed.
    let u = user(json!({"name": "alice", "password": "secret"}));
    assert_eq!(u.decide(&with(Some("md54a0a68b43b6cd5cf266fa02f196e2371"))).unwrap().queries.len(), 1);
    assert_eq!(u.decide(&with(None)).unwrap().queries.len(), 1);
    // An empty password removes one; none to remove: unchanged.
    let u = user(json!({"name": "app", "password": "", "role_attr_flags": "CREATEDB"}));
    let d = u.decide(&with(Some(SCRAM))).unwrap();
    assert_eq!(shown(&d), ["ALTER USER \"app\" WITH PASSWORD NULL CREATEDB"]);
    let u = user(json!({"name": "app", "password": ""}));
    assert!(u.decide(&with(None)).unwrap().queries.is_empty());
    // no_password_changes: only flags.
    let u = user(json!({"name": "app", "password": "x", "no_password_changes": true, "conn_limit": 3}));
    assert!(u.decide(&with(Some(SCRAM))).unwrap().queries.is_empty());
    let u = user(json!({"name": "app", "password": "x", "no_password_changes": true, "role_attr_flags": "SUPERUSER"}));
    assert_eq!(shown(&u.decide(&with(Some(SCRAM))).unwrap()), ["ALTER USER \"app\" WITH SUPERUSER"]);
}

#[test]
fn flags_expiry_limit_comment_and_configuration_of_an_existing_role() {
    let mut r = role();
    r.comment = Some("old".into());
    r.config = vec!["work_mem=16MB".into(), "search_path=a".into()];
    r.expires_differ = Some(false);
    let s = server(Some(r.clone()));
    let u = user(json!({"name": "app", "role_attr_flags": "LOGIN,nocreatedb", "expires": "2030-01-01",
        "comment": "old", "configuration": {"work_mem": "16MB"}}));
    assert!(u.decide(&s).unwrap().queries.is_empty());
    let u = user(json!({"name": "app", "role_attr_flags": "CREATEDB", "expires": "2030-01-01", "conn_limit": 2}));
    let d = u.decide(&s).unwrap();
    assert_eq!(
        shown(&d),
        ["ALTER USER \"app\" WITH CREATEDB VALID UNTIL %(expires)s CONNECTION LIMIT 2"]
    );
    assert_eq!(d.queries[0].summary, "alter role app: CREATEDB, connection limit 2");
    let mut r2 = r.clone();
    r2.expires_differ = Some(true);
    let u = user(json!({"name": "app", "expires": "2030-01-01", "comment": "", "configuration": {"work_mem": "32MB", "x.y": "it's"},
        "reset_unspecified_configuration": true}));
    let d = u.decide(&server(Some(r2))).unwrap();
    assert_eq!(
        shown(&d),
        [
            "ALTER USER \"app\" VALID UNTIL %(expires)s",
            "COMMENT ON ROLE \"app\" IS ''",
            "ALTER ROLE \"app\" RESET \"search_path\";",
            "ALTER ROLE \"app\" SET \"work_mem\" TO '32MB';",
            "ALTER ROLE \"app\" SET \"x.y\" TO 'it''s';",
        ]
    );
}

#[test]
fn absent_drops_and_fail_on_user_false_reports_an_undroppable_role() {
    let u = user(json!({"name": "app", "state": "absent"}));
    assert_eq!(u.decide(&server(None)).unwrap(), Decision::default());
    let d = u.decide(&server(Some(role()))).unwrap();
    assert_eq!(shown(&d), ["DROP USER \"app\""]);
    assert_eq!((d.listed_only, d.user_removed), (false, Some(true)));
    let mut r = role();
    r.undroppable = true;
    let u = user(json!({"name": "app", "state": "absent", "fail_on_user": false}));
    let d = u.decide(&server(Some(r))).unwrap();
    assert_eq!((d.listed_only, d.user_removed), (true, Some(false)));
}

#[test]
fn the_fact_reads_the_role_and_its_password_only_when_needed() {
    let u = user(json!({"name": "o'k", "password": "x", "expires": "infinity"}));
    let f = RoleFact { user: &u };
    let sql = f.sql();
    assert!(sql.contains("r.rolname = 'o''k'"), "{sql}");
    assert!(sql.contains("('infinity'::timestamptz IS DISTINCT FROM r.rolvaliduntil)"));
    assert!(sql.contains("\\if :prov_authid"));
    assert!(!sql.contains("'x'"), "the password is not sent: {sql}");
    let row = r#"{"version": 150004, "encryption": "scram-sha-256", "role": {"flags": {"SUPERUSER": false, "LOGIN": true}, "conn_limit": -1, "config": null, "comment": null, "expires_differ": true, "undroppable": false}}"#;
    let s = f.parse(&output(0, &format!("{row}\n{{\"password\": \"md5x\"}}\n"), "")).unwrap();
    assert_eq!(s.version, 150004);
    let r = s.role.unwrap();
    assert_eq!(r.password.as_deref(), Some("md5x"));
    assert_eq!(r.expires_differ, Some(true));
    assert_eq!(r.flags, [("SUPERUSER".into(), false), ("LOGIN".into(), true)]);
    let missing = r#"{"version": 150004, "encryption": "md5", "role": null}"#;
    assert!(f.parse(&output(0, &format!("{missing}\n{{\"password\": null}}\n"), "")).unwrap().role.is_none());
    assert!(f.parse(&output(0, missing, "")).is_err(), "a row short");
    let e = f
        .parse(&output(2, "", "psql: error: connection to server failed: FATAL:  no\n"))
        .unwrap_err();
    assert!(e.detail.starts_with("unable to connect to database: connection"), "{e:?}");
    let u = user(json!({"name": "app"}));
    assert!(!RoleFact { user: &u }.sql().contains("pg_authid WHERE"));
}

#[test]
fn arguments_as_the_module_and_refusals_by_name() {
    assert!(parse(json!({"user": "a", "db": "app", "fail_on_role": false, "login_unix_socket": "/var/run/postgresql"})).is_ok());
    for (args, field) in [
        (json!({"name": "a", "priv": "CONNECT"}), "priv"),
        (json!({"name": "a", "ssl_cert": "/x"}), "ssl_cert"),
        (json!({"name": "a\"b"}), "name"),
        (json!({"name": "a", "configuration": {"k": 1}}), "configuration"),
    ] {
        let e = parse(args).err().unwrap();
        assert!(e.to_string().contains(field), "{e}");
    }
    let e = parse(json!({"name": "a", "password": "x'; DROP TABLE t --", "trust_input": false}))
        .err()
        .unwrap();
    assert!(e.to_string().contains("'********' is potentially dangerous"), "{e}");
    assert!(parse(json!({"name": "a", "password": "fine", "trust_input": false})).is_ok());
}
