//! Every `prov` command line shown in README.md and docs/*.md works (issue 20, item 2).
//!
//! The rule, so that no line is picked by hand:
//!
//! 1. Commands are taken from fenced blocks without a language or marked `sh`, `bash`,
//!    `shell` or `console` (YAML blocks are CI configurations). A line is cut at ` # `
//!    (a comment) and split at `;`; a leading `$ ` is dropped; a piece starting with `prov `
//!    is a command (`cargo`, `redis-cli`, ... lines are not prov's).
//! 2. Commands that need hosts, the lab or a terminal are listed, not run: `prov run` (except
//!    with `--syntax-check`, `--list-hosts` or `--list-tasks`, which connect to nothing),
//!    `prov lab`, and `prov vault` subcommands that open an editor or rewrite vault files
//!    (all but `encrypt-string`).
//! 3. The others are run from the repository root, with `CI=1`, no stdin and
//!    `PROV_VAULT_PASSWORD_FILE=inventories/lab/vault-password` (the lab's committed
//!    password). A synopsis is made concrete first: `[optional parts]` are dropped, a word
//!    `a|b|c` gives one command per alternative, and the capitalised placeholders are the
//!    repository's examples ([`PLACEHOLDERS`]). A placeholder not in that table, or `...`,
//!    fails the test: a runnable line must be runnable.
//!
//! Each must exit 0.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What a placeholder stands for when a synopsis line is run.
const PLACEHOLDERS: &[(&str, &str)] = &[
    ("PLAYBOOK", "playbooks/redis-cluster.yml"),
    ("INVENTORY", "inventories/lab"),
    ("HOST", "lab1"),
    ("VAR", "example_password"),
    ("VALUE", "example-value"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// One command line found in a document.
#[derive(Debug)]
struct Found {
    file: String,
    line: usize,
    text: String,
}

/// The `prov` commands in the shell-like fenced blocks of `text` (rule 1).
fn commands_in(file: &str, text: &str) -> Vec<Found> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut shell = false;
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(info) = t.strip_prefix("```") {
            if in_block {
                in_block = false;
            } else {
                in_block = true;
                shell = matches!(info.trim(), "" | "sh" | "bash" | "shell" | "console");
            }
            continue;
        }
        if !in_block || !shell {
            continue;
        }
        let code = match line.find(" # ") {
            Some(i) => &line[..i],
            None => line,
        };
        for piece in code.split(';') {
            let piece = piece.trim();
            let piece = piece.strip_prefix("$ ").unwrap_or(piece).trim();
            if piece.starts_with("prov ") {
                out.push(Found {
                    file: file.to_owned(),
                    line: n + 1,
                    text: piece.to_owned(),
                });
            }
        }
    }
    out
}

/// Why a command is not run (rule 2), or `None` when it must be run.
fn needs_hosts(words: &[&str]) -> Option<&'static str> {
    match words.get(1).copied() {
        Some("run")
            if !words.iter().any(|w| {
                // Each alternative of `--syntax-check|--list-hosts` connects to nothing.
                w.split('|')
                    .all(|a| matches!(a, "--syntax-check" | "--list-hosts" | "--list-tasks"))
            }) =>
        {
            Some("prov run connects to hosts")
        }
        Some("lab") => Some("prov lab needs root and the lab"),
        Some("vault")
            if words
                .get(2)
                .is_some_and(|w| !w.starts_with("encrypt-string")) =>
        {
            Some("prov vault on files: an editor or rewritten files")
        }
        _ => None,
    }
}

/// Shell-like words: whitespace-separated, with '...' and "..." quoting.
fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut quote: Option<char> = None;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                has = true;
            }
            (None, c) if c.is_whitespace() => {
                if has {
                    words.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            (None, c) => {
                cur.push(c);
                has = true;
            }
        }
    }
    if has {
        words.push(cur);
    }
    words
}

/// The concrete commands of a synopsis (rule 3), or what makes it impossible.
fn concrete(words: &[String]) -> Result<Vec<Vec<String>>, String> {
    let mut kept: Vec<&str> = Vec::new();
    let mut depth = 0usize;
    for w in words {
        if depth == 0 && !w.starts_with('[') {
            kept.push(w);
        }
        depth += w.matches('[').count();
        depth = depth.saturating_sub(w.matches(']').count());
    }
    let mut all: Vec<Vec<String>> = vec![Vec::new()];
    for w in kept {
        if w == "..." {
            return Err("`...` stands for arguments that are not shown".into());
        }
        let choices: Vec<&str> = w.split('|').collect();
        let mut choices_out = Vec::new();
        for c in choices {
            let is_placeholder = c.len() >= 2
                && c.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_')
                && c.chars().any(|ch| ch.is_ascii_uppercase());
            if is_placeholder {
                match PLACEHOLDERS.iter().find(|(k, _)| *k == c) {
                    Some((_, v)) => choices_out.push((*v).to_owned()),
                    None => return Err(format!("placeholder {c} has no example value")),
                }
            } else {
                choices_out.push(c.to_owned());
            }
        }
        all = all
            .into_iter()
            .flat_map(|prefix| {
                choices_out.iter().map(move |c| {
                    let mut p = prefix.clone();
                    p.push(c.clone());
                    p
                })
            })
            .collect();
    }
    Ok(all)
}

fn documents() -> Vec<PathBuf> {
    let root = root();
    let mut docs = vec![root.join("README.md")];
    let mut more: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

fn run(root: &Path, args: &[String]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prov"))
        .args(args)
        .current_dir(root)
        .env("CI", "1")
        .env("NO_COLOR", "1")
        .env(
            "PROV_VAULT_PASSWORD_FILE",
            root.join("inventories/lab/vault-password"),
        )
        .stdin(Stdio::null())
        .output()
        .expect("prov runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_documented_command_that_needs_no_host_succeeds() {
    let root = root();
    let mut found = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).expect("read doc");
        let name = doc
            .strip_prefix(&root)
            .unwrap_or(&doc)
            .display()
            .to_string();
        found.extend(commands_in(&name, &text));
    }
    let mut failures = Vec::new();
    let mut ran = Vec::new();
    for f in &found {
        let words = shell_words(&f.text);
        let plain: Vec<&str> = words.iter().map(String::as_str).collect();
        if let Some(why) = needs_hosts(&plain) {
            eprintln!("not run ({why}): {}:{}: {}", f.file, f.line, f.text);
            continue;
        }
        let commands = match concrete(&words) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{}:{}: {}: {e}", f.file, f.line, f.text));
                continue;
            }
        };
        for cmd in commands {
            let (code, _out, err) = run(&root, &cmd[1..]);
            let shown = cmd.join(" ");
            eprintln!("ran (exit {code}): {shown}");
            if code != 0 {
                failures.push(format!(
                    "{}:{}: `{shown}` exited {code}: {}",
                    f.file,
                    f.line,
                    err.trim()
                ));
            }
            ran.push(shown);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The rule must leave something to run: the README's inventory, lint, completions and
    // man lines at least.
    for needle in [
        "prov inventory list -i inventories/lab",
        "prov inventory host lab1 -i inventories/lab",
        "prov inventory --list -i inventories/lab",
        "prov vault encrypt-string -n example_password example-value",
        "prov lint playbooks/redis-cluster.yml -i inventories/lab",
        "prov completions bash",
        "prov man",
        "prov run playbooks/redis-cluster.yml -i inventories/lab --list-hosts",
    ] {
        assert!(
            ran.iter().any(|r| r == needle),
            "`{needle}` was not among the commands run: {ran:#?}"
        );
    }
}

#[test]
fn the_extraction_rule_expands_synopses_and_rejects_unknown_placeholders() {
    let doc = "text\n```\nprov inventory list|graph -i INVENTORY  # a comment\nprov completions bash|zsh; prov man\ncargo build\n```\n```yaml\n- run: prov run x\n```\n";
    let found = commands_in("doc.md", doc);
    let texts: Vec<&str> = found.iter().map(|f| f.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "prov inventory list|graph -i INVENTORY",
            "prov completions bash|zsh",
            "prov man"
        ]
    );
    let c = concrete(&shell_words(
        "prov inventory list|graph -i INVENTORY [-e k=v|@f]",
    ))
    .expect("concrete");
    assert_eq!(
        c,
        [
            ["prov", "inventory", "list", "-i", "inventories/lab"],
            ["prov", "inventory", "graph", "-i", "inventories/lab"],
        ]
    );
    assert!(concrete(&shell_words("prov lint BOOK")).is_err());
    assert!(concrete(&shell_words("prov run ... --check")).is_err());
    assert_eq!(
        needs_hosts(&["prov", "run", "p.yml", "-i", "x"]),
        Some("prov run connects to hosts")
    );
    assert_eq!(needs_hosts(&["prov", "run", "p.yml", "--list-hosts"]), None);
    assert_eq!(
        needs_hosts(&["prov", "run", "p.yml", "--syntax-check|--list-tasks"]),
        None
    );
    assert_eq!(
        shell_words("prov vault encrypt-string 'a b' \"c\""),
        ["prov", "vault", "encrypt-string", "a b", "c"]
    );
}
