use super::*;

fn want(extra: Value) -> MysqlUser {
    let mut a = json!({"name": "app", "password": "pw"});
    a.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    from_args(a).unwrap()
}

const HASH: &str = "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19";

fn state(account: Option<(&str, &[&str])>) -> UserState {
    UserState {
        version: "10.11.6-MariaDB-0+deb12u1".into(),
        ansi: false,
        account: account.map(|(hash, grants)| Account {
            hash: Some(hash.into()),
            tls: None,
            plugin: ("mysql_native_password".into(), hash.into()),
            limits: vec![0.0, 0.0, 10.0, 0.0, 0.0],
            privs: mysql_privs::from_grants(
                &grants.iter().map(|g| g.to_string()).collect::<Vec<_>>(),
            )
            .unwrap(),
        }),
        wanted_hash: Some(HASH.into()),
        locked: false,
        auths: Vec::new(),
    }
}

fn sql(w: &MysqlUser, p: &UserPlan) -> Vec<String> {
    p.ops.iter().flat_map(|o| o.sql(&w.user, &w.host)).collect()
}

#[test]
fn a_new_user_is_created_with_the_servers_hash_and_granted() {
    let w = want(json!({"priv": "app.*:ALL,GRANT"}));
    let p = plan_user(&w, &state(None)).unwrap();
    assert_eq!(
        sql(&w, &p),
        [
            format!("CREATE USER 'app'@'localhost' IDENTIFIED WITH mysql_native_password AS '{HASH}'"),
            "GRANT ALL ON `app`.* TO 'app'@'localhost' WITH GRANT OPTION".into(),
            "GRANT USAGE ON *.* TO 'app'@'localhost'".into(),
        ]
    );
    assert_eq!(p.msg.0, "User added");
    assert_eq!(p.password_changed, (json!(true), Value::Null));
    assert_eq!(p.attributes, Value::Null);
}

#[test]
fn an_unchanged_user_plans_nothing() {
    let grants: &[&str] = &[
        "GRANT USAGE ON *.* TO `app`@`localhost` IDENTIFIED BY PASSWORD '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'",
        "GRANT ALL PRIVILEGES ON `app`.* TO `app`@`localhost` WITH GRANT OPTION",
    ];
    let w = want(json!({"priv": "app.*:ALL,GRANT"}));
    let p = plan_user(&w, &state(Some((HASH, grants)))).unwrap();
    assert!(p.ops.is_empty(), "{p:?}");
    assert_eq!(p.msg.0, "User unchanged");
    assert_eq!(p.attributes, json!({}));
}

#[test]
fn privileges_are_replaced_appended_or_subtracted() {
    let grants: &[&str] = &[
        "GRANT USAGE ON *.* TO `app`@`localhost`",
        "GRANT SELECT, INSERT ON `app`.* TO `app`@`localhost`",
        "GRANT SELECT ON `old`.* TO `app`@`localhost`",
    ];
    let st = state(Some((HASH, grants)));
    let w = want(json!({"priv": "app.*:SELECT,UPDATE"}));
    let p = plan_user(&w, &st).unwrap();
    assert_eq!(
        sql(&w, &p),
        [
            "REVOKE SELECT ON `old`.* FROM 'app'@'localhost'",
            "FLUSH PRIVILEGES",
            "REVOKE INSERT ON `app`.* FROM 'app'@'localhost'",
            "FLUSH PRIVILEGES",
            "GRANT UPDATE ON `app`.* TO 'app'@'localhost'",
        ]
    );
    assert_eq!(p.msg.0, "Privileges updated: granted ['UPDATE'], revoked ['INSERT']");

    let w = want(json!({"priv": "app.*:SELECT,UPDATE/new.*:SELECT", "append_privs": true}));
    let p = plan_user(&w, &st).unwrap();
    assert_eq!(
        sql(&w, &p),
        [
            "GRANT SELECT ON `new`.* TO 'app'@'localhost'",
            "GRANT UPDATE ON `app`.* TO 'app'@'localhost'",
        ]
    );

    let w = want(json!({"priv": "app.*:INSERT,DELETE", "subtract_privs": true}));
    let p = plan_user(&w, &st).unwrap();
    assert_eq!(
        sql(&w, &p),
        ["REVOKE INSERT ON `app`.* FROM 'app'@'localhost'", "FLUSH PRIVILEGES"]
    );
}

#[test]
fn the_grant_option_is_revoked_alone_when_only_it_goes() {
    let grants: &[&str] = &[
        "GRANT USAGE ON *.* TO `app`@`localhost`",
        "GRANT ALL PRIVILEGES ON `app`.* TO `app`@`localhost` WITH GRANT OPTION",
    ];
    let w = want(json!({"priv": "app.*:ALL"}));
    let p = plan_user(&w, &state(Some((HASH, grants)))).unwrap();
    assert_eq!(
        sql(&w, &p),
        [
            "REVOKE GRANT OPTION ON `app`.* FROM 'app'@'localhost'",
            "FLUSH PRIVILEGES",
        ]
    );
}

#[test]
fn passwords_change_when_the_hash_differs_and_update_password_allows() {
    let grants: &[&str] = &["GRANT USAGE ON *.* TO `app`@`localhost`"];
    let st = state(Some(("*0000000000000000000000000000000000000000", grants)));
    let w = want(json!({}));
    let p = plan_user(&w, &st).unwrap();
    assert_eq!(
        sql(&w, &p),
        [format!("ALTER USER 'app'@'localhost' IDENTIFIED WITH mysql_native_password AS '{HASH}'")]
    );
    assert_eq!(p.msg, ("Password updated (new style)".into(), "Password updated".into()));
    assert_eq!(p.password_changed, (json!(true), json!(true)));
    let w = want(json!({"update_password": "on_create"}));
    assert!(plan_user(&w, &st).unwrap().ops.is_empty());
    let w = want(json!({"password": "nohash", "encrypted": true}));
    assert!(plan_user(&w, &st).unwrap_err().contains("valid hash"));
}

#[test]
fn on_new_username_reuses_the_one_existing_password() {
    let mut st = state(None);
    st.auths = vec![("mysql_native_password".into(), HASH.into())];
    let w = want(json!({"update_password": "on_new_username", "password": "other"}));
    let p = plan_user(&w, &st).unwrap();
    assert_eq!(
        sql(&w, &p)[0],
        format!("CREATE USER 'app'@'localhost' IDENTIFIED WITH 'mysql_native_password' AS '{HASH}'")
    );
    assert_eq!(p.password_changed.0, json!(false));
}

#[test]
fn absent_drops_and_tls_requirements_are_dropped() {
    let grants: &[&str] = &["GRANT USAGE ON *.* TO `app`@`localhost`"];
    let w = want(json!({"state": "absent"}));
    let p = plan_user(&w, &state(Some((HASH, grants)))).unwrap();
    assert_eq!(sql(&w, &p), ["DROP USER IF EXISTS 'app'@'localhost'"]);
    assert_eq!(p.msg.0, "User deleted");
    let p = plan_user(&w, &state(None)).unwrap();
    assert!(p.ops.is_empty());
    assert_eq!(p.msg.0, "User doesn't exist");
    let mut st = state(Some((HASH, grants)));
    st.account.as_mut().unwrap().tls = Some(Tls::Ssl);
    let p = plan_user(&want(json!({})), &st).unwrap();
    assert_eq!(p.ops, [UserOp::SetTls(None)]);
    let w = want(json!({"tls_requires": {"ssl": null}}));
    assert!(plan_user(&w, &st).unwrap().ops.is_empty());
    assert_eq!(p.msg.0, "TLS requires updated");
}

#[test]
fn mysql_servers_and_old_mariadb_are_refused() {
    let mut st = state(None);
    st.version = "8.0.36".into();
    assert!(plan_user(&want(json!({})), &st).unwrap_err().contains("MariaDB"));
    st.version = "10.1.48-MariaDB".into();
    assert!(plan_user(&want(json!({})), &st).unwrap_err().contains("10.2"));
}

#[test]
fn the_fact_parses_tagged_rows_and_grants() {
    let text = "#version\t10.11.6-MariaDB-0+deb12u1\n#mode\tSTRICT_TRANS_TABLES\n\
        #account\t*AB\t0\n#hash\t*CD\n#auth\tmysql_native_password\t*AB\n#grants\n\
        GRANT USAGE ON *.* TO `app`@`localhost`\n#end\n";
    let st = parse_user_state(text).unwrap();
    assert_eq!(st.account.as_ref().unwrap().hash.as_deref(), Some("*AB"));
    assert_eq!(st.wanted_hash.as_deref(), Some("*CD"));
    assert_eq!(st.auths.len(), 1);
    assert_eq!(
        st.account.unwrap().privs.get("*.*"),
        Some(&vec!["USAGE".to_string()])
    );
    assert!(parse_user_state("what\n").is_err());
    let st = parse_user_state("#version\tx\n#mode\tANSI\n#grants\n#end\n").unwrap();
    assert!(st.ansi && st.account.is_none());
}

#[test]
fn the_password_is_only_on_stdin() {
    let w = want(json!({"password": "s3cret", "login_password": "l0gin"}));
    let f = UserFact(&w);
    assert!(!f.script().as_str().contains("s3cret"));
    assert!(!f.script().as_str().contains("l0gin"));
    assert!(f.sql().contains("SHA1('s3cret')"));
}

#[test]
fn unimplemented_arguments_are_refused_by_name() {
    for (k, v) in [
        ("salt", json!("x")),
        ("resource_limits", json!({"MAX_BOGUS": 1})),
        ("resource_limits", json!({"MAX_USER_CONNECTIONS": "ten"})),
        ("locked", json!("perhaps")),
    ] {
        let mut a = json!({"name": "x"});
        a[k] = v;
        let e = build(a).err().unwrap().to_string();
        assert!(e.contains(k), "{k}: {e}");
    }
    let e = build(json!({"name": "x", "append_privs": true, "subtract_privs": true}))
        .err()
        .unwrap();
    assert!(e.to_string().contains("mutually exclusive"));
    assert!(build(json!({"name": "x", "priv": {"db.*": "ALL"}})).is_ok());
    assert!(build(json!({"name": "x", "priv": ["db.*:ALL"]})).is_err());
}

#[test]
fn plugins_are_set_and_compared_as_ansible_does() {
    let grants: &[&str] = &["GRANT USAGE ON *.* TO `app`@`localhost`"];
    let st = state(Some((HASH, grants)));
    let w = want(json!({"password": null, "plugin": "mysql_native_password", "plugin_hash_string": HASH}));
    assert!(plan_user(&w, &st).unwrap().ops.is_empty());
    let w = want(json!({"password": null, "plugin": "unix_socket"}));
    let p = plan_user(&w, &st).unwrap();
    assert_eq!(sql(&w, &p), ["ALTER USER 'app'@'localhost' IDENTIFIED WITH 'unix_socket'"]);
    assert_eq!(p.password_changed.0, json!(true));
    let w = want(json!({"password": null, "plugin": "ed25519", "plugin_auth_string": "pw"}));
    let p = plan_user(&w, &st).unwrap();
    assert_eq!(
        sql(&w, &p),
        ["ALTER USER 'app'@'localhost' IDENTIFIED WITH 'ed25519' USING PASSWORD('pw')"]
    );
    let w = want(json!({"password": null, "plugin": "pam", "plugin_auth_string": "svc"}));
    let p = plan_user(&w, &state(None)).unwrap();
    assert_eq!(sql(&w, &p)[0], "CREATE USER 'app'@'localhost' IDENTIFIED WITH 'pam' USING 'svc'");
    let w = want(json!({"password": null, "plugin": "x", "plugin_auth_string": "a", "update_password": "on_create"}));
    assert!(plan_user(&w, &st).unwrap().ops.is_empty());
}

#[test]
fn host_all_merges_the_hosts_as_ansibles_loop() {
    let mut a = UserPlan::new("User unchanged", json!({}));
    let mut b = UserPlan::new("User unchanged", json!({}));
    b.say("New privileges granted");
    b.ops.push(UserOp::SetTls(None));
    a.password_changed = (json!(true), json!(true));
    let m = merge(vec![a, b.clone(), UserPlan::new("User unchanged", json!({}))]);
    assert_eq!(m.msg.0, "New privileges granted");
    assert_eq!(m.password_changed.0, json!(true));
    assert_eq!(m.ops, [UserOp::SetTls(None)]);
    let f = HostsFact(&want(json!({"host_all": true})));
    let out = crate::server_util::testing::output(0, "localhost\n%\n", "");
    assert_eq!(f.parse(&out).unwrap(), ["localhost", "%"]);
}

#[test]
fn resource_limits_that_differ_are_set() {
    let grants: &[&str] = &["GRANT USAGE ON *.* TO `app`@`localhost`"];
    let w = want(json!({"resource_limits": {"MAX_CONNECTIONS_PER_HOUR": 10, "MAX_USER_CONNECTIONS": "5", "MAX_STATEMENT_TIME": 0}}));
    let p = plan_user(&w, &state(Some((HASH, grants)))).unwrap();
    assert_eq!(sql(&w, &p), ["ALTER USER 'app'@'localhost' WITH MAX_USER_CONNECTIONS 5"]);
    let p = plan_user(&w, &state(None)).unwrap();
    assert_eq!(
        sql(&w, &p).last().unwrap(),
        "ALTER USER 'app'@'localhost' WITH MAX_CONNECTIONS_PER_HOUR 10 MAX_USER_CONNECTIONS 5"
    );
    let text = "#version\tx\n#mode\t\n#account\t*AB\t0\tmysql_native_password\t*AB\t1\t2\t3\t4\t0.500000\n#grants\n#end\n";
    assert_eq!(parse_user_state(text).unwrap().account.unwrap().limits, [1.0, 2.0, 3.0, 4.0, 0.5]);
}

#[test]
fn tls_requirements_as_ansible_sanitizes_them() {
    let w = want(json!({"tls_requires": {"x509": null, "subject": "/CN=a", "cipher": "AES"}}));
    assert_eq!(
        w.tls,
        Some(Tls::Specified(vec![
            ("CIPHER".into(), "AES".into()),
            ("SUBJECT".into(), "/CN=a".into())
        ]))
    );
    let p = plan_user(&w, &state(None)).unwrap();
    assert_eq!(
        sql(&w, &p)[0],
        format!("CREATE USER 'app'@'localhost' IDENTIFIED WITH mysql_native_password AS '{HASH}' REQUIRE SUBJECT '/CN=a' AND CIPHER 'AES'")
    );
    let cur = current_tls(&["SPECIFIED".into(), "AES".into(), String::new(), "/CN=a".into()]);
    assert_eq!(cur, w.tls);
    assert_eq!(current_tls(&["X509".into(), String::new(), String::new(), String::new()]), Some(Tls::X509));
    assert_eq!(current_tls(&[String::new(), String::new(), String::new(), String::new()]), None);
    let w = want(json!({"tls_requires": {"X509": null}}));
    let grants: &[&str] = &["GRANT USAGE ON *.* TO `app`@`localhost`"];
    let p = plan_user(&w, &state(Some((HASH, grants)))).unwrap();
    assert_eq!(sql(&w, &p), ["ALTER USER 'app'@'localhost' REQUIRE X509"]);
}

#[test]
fn accounts_are_locked_and_unlocked() {
    let grants: &[&str] = &["GRANT USAGE ON *.* TO `app`@`localhost`"];
    let mut st = state(Some((HASH, grants)));
    let w = want(json!({"locked": true}));
    let p = plan_user(&w, &st).unwrap();
    assert_eq!(sql(&w, &p), ["ALTER USER 'app'@'localhost' ACCOUNT LOCK"]);
    assert_eq!(p.msg, ("User locked".into(), "User will be locked".into()));
    st.locked = true;
    assert!(plan_user(&w, &st).unwrap().ops.is_empty());
    let w = want(json!({"locked": false}));
    assert_eq!(plan_user(&w, &st).unwrap().ops, [UserOp::Lock(false)]);
    let w = want(json!({"locked": true}));
    let p = plan_user(&w, &state(None)).unwrap();
    assert_eq!(p.ops.last(), Some(&UserOp::Lock(true)));
    assert!(UserFact(&w).sql().contains("account_locked"));
}

#[test]
fn session_vars_and_force_context_reach_every_session() {
    let w = want(json!({"session_vars": {"wsrep_on": "OFF", "sql_log_off": 1}}));
    assert_eq!(w.session, "SET SESSION `wsrep_on` = 'OFF';\nSET SESSION `sql_log_off` = 1;\n");
    assert!(UserFact(&w).sql().contains("SET SESSION `wsrep_on` = 'OFF';"));
    let m = build(json!({"name": "x", "force_context": true}));
    assert!(m.is_ok());
    let (_, login): (Value, LoginArgs) = parse_with_login(json!({})).unwrap();
    let login = LoginArgs { database: Some("mysql".into()), ..login };
    let input = String::from_utf8(login.input("")).unwrap();
    assert!(input.contains("database=\"mysql\"\n"), "{input}");
}
