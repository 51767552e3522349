//! The Jinja2 templates of the public roles in `../shared/ansible-corpus/`, rendered by prov and
//! by the real ansible-core (its `template` module, run locally) from the same variables: the
//! role's defaults and Debian vars, and the same facts. The files must be identical.
//!
//! Needs ansible-core: `$ANSIBLE_BIN`, else the `ansible` beside `$ANSIBLE_VAULT_BIN` (what
//! scripts/test.sh installs for the benchmark). Without it the test is skipped with a message,
//! unless `PROV_REQUIRE_LAB=1` (CI), where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use prov_engine::template::{Dialect, Templar};
use prov_engine::yaml::{self, NoSecrets};
use serde_json::{Map, Value, json};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/ansible-corpus")
}

fn ansible_bin() -> Option<PathBuf> {
    let from_env = std::env::var_os("ANSIBLE_BIN").map(PathBuf::from);
    let beside_vault = std::env::var_os("ANSIBLE_VAULT_BIN")
        .map(PathBuf::from)
        .and_then(|v| v.parent().map(|d| d.join("ansible")));
    from_env.or(beside_vault).filter(|p| p.is_file())
}

/// The facts both tools see (a Debian 12 host named h1).
fn facts() -> Value {
    json!({
        "os_family": "Debian",
        "distribution": "Debian",
        "distribution_major_version": "12",
        "distribution_release": "bookworm",
        "hostname": "h1",
        "fqdn": "h1",
        "processor_vcpus": 2,
        "processor_count": 2,
        "memtotal_mb": 2048,
    })
}

/// A YAML file's top-level mapping (empty when the file does not exist).
fn vars_file(path: &Path) -> Map<String, Value> {
    if !path.is_file() {
        return Map::new();
    }
    match yaml::load_file(path, &NoSecrets) {
        Ok(doc) => doc.value.as_object().cloned().unwrap_or_default(),
        Err(e) => panic!("{}: {e}", path.display()),
    }
}

/// What a template of `role` sees: defaults, vars/main.yml, vars/Debian.yml, facts.
fn role_vars(role: &Path) -> Map<String, Value> {
    let mut v = vars_file(&role.join("defaults/main.yml"));
    v.extend(vars_file(&role.join("vars/main.yml")));
    v.extend(vars_file(&role.join("vars/Debian.yml")));
    if let Value::Object(f) = facts() {
        for (k, val) in &f {
            v.insert(format!("ansible_{k}"), val.clone());
        }
        v.insert("ansible_facts".into(), Value::Object(f));
    }
    v.insert("inventory_hostname".into(), json!("h1"));
    // What the roles' tasks set before they render: `NAME: "{{ __NAME }}"` when NAME is not
    // defined (the "Define NAME" tasks of these roles), and a `set_fact` from a command.
    let derived: Vec<(String, Value)> = v
        .iter()
        .filter_map(|(k, val)| Some((k.strip_prefix("__")?.to_owned(), val.clone())))
        .filter(|(k, _)| !v.contains_key(k))
        .collect();
    v.extend(derived);
    v.insert("fail2ban_version".into(), json!("1.0.2"));
    // nginx renders vhost.j2 in a loop over `nginx_vhosts`: one such item.
    v.insert(
        "item".into(),
        json!({"listen": "8080", "server_name": "example.com", "root": "/var/www/example",
               "index": "index.php index.html", "state": "present", "filename": "example.conf",
               "extra_parameters": "location / {\n    try_files $uri $uri/ =404;\n}"}),
    );
    resolve(v)
}

/// Values that use other variables rendered in Jinja2, as Ansible's lazy variables would
/// give them to the template (passes until nothing changes).
fn resolve(mut v: Map<String, Value>) -> Map<String, Value> {
    let templar = Templar::new();
    let at = prov_engine::Location::new(Path::new("<vars>"), 1, 1);
    for _ in 0..10 {
        let ctx = Templar::context(&v);
        let mut changed = false;
        for (k, val) in v.clone() {
            if !prov_engine::template::is_templated(&val) {
                continue;
            }
            if let Ok(r) = templar.render_value_in(Dialect::Jinja2, &val, &ctx, &|_| at.clone())
                && r != val
            {
                v.insert(k, r);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    v
}

/// Every `*.j2` under the roles of the corpus, with its role folder.
fn templates() -> Vec<(PathBuf, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![corpus()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "j2") {
                let role = p
                    .ancestors()
                    .find(|a| a.parent().is_some_and(|pp| pp.ends_with("roles")))
                    .map(Path::to_path_buf);
                if let Some(role) = role {
                    out.push((p, role));
                }
            }
        }
    }
    out.sort();
    out
}

/// ansible-core's rendering of `template` with `vars`.
fn render_with_ansible(ansible: &Path, template: &Path, vars: &Map<String, Value>) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let vars_path = dir.path().join("vars.json");
    std::fs::write(&vars_path, serde_json::to_string(vars).unwrap()).unwrap();
    let dest = dir.path().join("out");
    let out = Command::new(ansible)
        .args([
            "localhost",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-m",
            "ansible.builtin.template",
        ])
        .arg("-a")
        .arg(format!(
            "src={} dest={}",
            template.display(),
            dest.display()
        ))
        .arg("-e")
        .arg(format!("@{}", vars_path.display()))
        .env("ANSIBLE_LOCALHOST_WARNING", "false")
        .env("ANSIBLE_INVENTORY_UNPARSED_WARNING", "false")
        // The module runs on this machine with the Python that runs Ansible.
        .env(
            "ANSIBLE_PYTHON_INTERPRETER",
            ansible.with_file_name("python3"),
        )
        .output()
        .expect("ansible runs");
    assert!(
        out.status.success(),
        "ansible failed on {}: {}{}",
        template.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&dest).expect("ansible wrote the file")
}

#[test]
fn corpus_templates_render_as_ansible_renders_them() {
    let Some(ansible) = ansible_bin() else {
        assert!(
            std::env::var("PROV_REQUIRE_LAB").as_deref() != Ok("1"),
            "PROV_REQUIRE_LAB=1 but no ansible-core (set ANSIBLE_BIN or ANSIBLE_VAULT_BIN)"
        );
        eprintln!("SKIPPED: no ansible-core (set ANSIBLE_BIN)");
        return;
    };
    let all = templates();
    assert!(all.len() >= 10, "the corpus has its templates: {all:?}");
    let templar = Templar::new();
    let mut differ = Vec::new();
    for (template, role) in &all {
        let vars = role_vars(role);
        let expected = render_with_ansible(&ansible, template, &vars);
        let got = templar
            .render_file(template, &Templar::context(&vars))
            .unwrap_or_else(|e| format!("<prov error: {e}>"));
        if got != expected {
            let diff = similar::TextDiff::from_lines(&expected, &got)
                .unified_diff()
                .header("ansible", "prov")
                .to_string();
            differ.push(format!("{}\n{diff}", template.display()));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} templates differ from Ansible's rendering:\n{}",
        differ.len(),
        all.len(),
        differ.join("\n")
    );
}
