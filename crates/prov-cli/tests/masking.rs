//! Vault values are masked in every representation the output can show them in (issue 14,
//! items 6 and 9): a multi-line key read back line by line, JSON-escaped inside `to_json` and
//! nested registered results, and in another letter case. Runs the real `prov` binary with
//! `-c local` hosts.

mod engine_support;

use std::process::Command;

use engine_support::Project;

const PEM: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBkdW1teWR1bW15ZHVtbXlkdW1teWR1bW15ZHVtbXlkdW1teQAAAJgAAAAA
-----END OPENSSH PRIVATE KEY-----
";

/// A one-line secret with a quote and a backslash (JSON escapes both).
const QUOTED: &str = r#"pa"ss\word-42xq"#;

/// Distinctive pieces of the secrets that must never be printed.
const LEAKS: &[&str] = &[
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
    "QyNTUxOQAAACBkdW1teWR1bW15ZHVtbXlkdW1teWR1bW15",
    "word-42xq",
    "WORD-42XQ",
];

/// `prov vault encrypt-string` of `value` named `name`, with the password in `pw`.
fn encrypt_string(p: &Project, name: &str, value: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_prov"))
        .args([
            "vault",
            "encrypt-string",
            "--vault-password-file",
            "pw",
            "-n",
            name,
            "--",
            value,
        ])
        .current_dir(p.root())
        .env("CI", "1")
        .env_remove("PROV_VAULT_PASSWORD_FILE")
        .output()
        .expect("prov vault runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn project() -> Project {
    let p = Project::new(&["h1"]);
    p.write("pw", "masking-test-password\n");
    let key = p.write("key.pem", PEM);
    let vars = format!(
        "{}\n{}\n",
        encrypt_string(&p, "pem_key", PEM),
        encrypt_string(&p, "quoted", QUOTED)
    );
    p.write("vars.yml", &vars);
    p.write(
        "play.yml",
        &format!(
            r#"- hosts: all
  gather_facts: no
  vars_files: [vars.yml]
  tasks:
    - name: read the key back
      command: cat {key}
      register: r
    - name: show r
      debug: var=r
    - name: nested
      set_fact:
        d:
          pw: "{{{{ quoted }}}}"
          inner: {{list: ["{{{{ quoted }}}}", "{{{{ pem_key }}}}"]}}
    - name: show d
      debug: var=d
    - name: as json
      debug:
        msg: "{{{{ d | to_json }}}}"
    - name: json of json
      debug:
        msg: "{{{{ d | to_json | to_json }}}}"
    - name: upper
      debug:
        msg: "{{{{ quoted | upper }}}} {{{{ pem_key | upper }}}}"
    - name: lower
      debug:
        msg: "{{{{ quoted | lower }}}}"
"#,
            key = key.display()
        ),
    );
    p
}

fn assert_masked(what: &str, text: &str) {
    for leak in LEAKS {
        assert!(!text.contains(leak), "{what}: `{leak}` printed:\n{text}");
    }
}

#[test]
fn vault_values_are_masked_in_every_representation() {
    let p = project();
    // JSON Lines (results always included).
    let out = p.run("play.yml", &["--vault-password-file", "pw"]);
    out.expect_code(0);
    assert_masked("json", &out.stdout);
    // The key was read back and shown, masked line by line.
    let lines = out.var("h1", "show r")["stdout_lines"].clone();
    let lines = lines.as_array().expect("stdout_lines shown");
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines.iter().all(|l| l == "********"), "{lines:?}");
    assert!(out.msg("h1", "as json").contains("********"));

    // The console, verbose (results printed as pretty JSON), and the JUnit report.
    let out = p.prov_run(&[
        "play.yml",
        "-i",
        "inv.yml",
        "--vault-password-file",
        "pw",
        "-v",
        "--junit",
        "report.xml",
    ]);
    out.expect_code(0);
    assert_masked("console", &out.stdout);
    assert_masked("stderr", &out.stderr);
    let report = std::fs::read_to_string(p.path("report.xml")).expect("report written");
    assert_masked("junit", &report);
}
