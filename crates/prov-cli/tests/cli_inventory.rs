//! `prov inventory`: `-i` and the vault flags before or after the subcommand, Ansible's
//! `--list`, `--graph`, `--host NAME`, and usage errors (exit 4) for what cannot be answered.

use std::path::PathBuf;
use std::process::Command;

fn prov(args: &[&str]) -> (i32, String, String) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO_BIN_EXE_prov"))
        .args(args)
        .current_dir(root)
        .env("NO_COLOR", "1")
        .env("CI", "1")
        .env_remove("PROV_VAULT_PASSWORD_FILE")
        .output()
        .expect("prov runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const PW: &str = "inventories/lab/vault-password";

#[test]
fn options_go_before_or_after_the_subcommand_and_ansible_forms_are_aliases() {
    let forms: [&[&str]; 4] = [
        &[
            "inventory",
            "-i",
            "inventories/lab",
            "--vault-password-file",
            PW,
            "graph",
        ],
        &[
            "inventory",
            "graph",
            "-i",
            "inventories/lab",
            "--vault-password-file",
            PW,
        ],
        &[
            "inventory",
            "-i",
            "inventories/lab",
            "graph",
            "--vault-password-file",
            PW,
        ],
        &[
            "inventory",
            "--graph",
            "-i",
            "inventories/lab",
            "--vault-password-file",
            PW,
        ],
    ];
    let mut outputs = Vec::new();
    for args in forms {
        let (code, out, err) = prov(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(
            out.contains("@redis:") && out.contains("lab1"),
            "{args:?}: {out}"
        );
        outputs.push(out);
    }
    assert!(outputs.windows(2).all(|w| w[0] == w[1]), "{outputs:#?}");

    let (code, out, err) = prov(&[
        "inventory",
        "--host",
        "lab2",
        "-i",
        "inventories/lab",
        "--vault-password-file",
        PW,
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["redis_password"], "********", "{out}");
    assert_eq!(v["ansible_host"], "10.77.0.12", "{out}");

    let (code, out, err) = prov(&[
        "inventory",
        "list",
        "-i",
        "inventories/lab",
        "--vault-password-file",
        PW,
    ]);
    assert_eq!(code, 0, "{err}");
    let (code2, out2, err2) = prov(&[
        "inventory",
        "--list",
        "-i",
        "inventories/lab",
        "--vault-password-file",
        PW,
    ]);
    assert_eq!(code2, 0, "{err2}");
    assert_eq!(out, out2);
}

#[test]
fn what_cannot_be_answered_is_a_usage_error() {
    let cases: [(&[&str], &str); 5] = [
        (&["inventory", "list"], "no inventory given"),
        (&["inventory", "-i", "inventories/lab"], "say what to show"),
        (
            &["inventory", "--list", "graph", "-i", "inventories/lab"],
            "not both",
        ),
        (
            &["inventory", "--list", "--graph", "-i", "inventories/lab"],
            "cannot be used with",
        ),
        (
            &[
                "inventory",
                "host",
                "no-such-host",
                "-i",
                "inventories/lab",
                "--vault-password-file",
                PW,
            ],
            "no host `no-such-host`",
        ),
    ];
    for (args, says) in cases {
        let (code, out, err) = prov(args);
        assert_eq!(code, 4, "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
