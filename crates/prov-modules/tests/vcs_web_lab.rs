//! Lab tests of `git` and `apache2_module` on lab host lab3: the effect is checked inside the
//! host, check mode must predict the real run and a second run must change nothing
//! (`converge`); where the real Ansible module can run on the host, prov and Ansible must
//! leave the same files (`same_as_ansible`).
//!
//! The lab has no network: `git` clones a bare repository created on the host itself under
//! `/tmp/prov-git`. The packages (`git`, `apache2`) come from the lab's local repository and
//! everything the tests installed is purged at the end.
//!
//! Run under the shared lock: `flock -o /work/lab.lock cargo test -p prov-modules --test
//! vcs_web_lab`. Every test skips with a message when the lab is not up.

#[path = "support/server_lab.rs"]
mod support;

use serde_json::{Value, json};
use support::{NsConnection, apply, check, converge, lab_host, lab_lock, same_as_ansible};

const HOST: &str = "lab3";
const T: &str = "/tmp/prov-git";
const SRC: &str = "/tmp/prov-git/src.git";

/// Runs git in the work repository that feeds the bare one.
async fn work(h: &NsConnection, cmds: &str) -> String {
    h.sh_ok(&format!(
        "cd {T}/work && export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t && {cmds}"
    ))
    .await
}

/// Commits a change of `file` in the work repository, pushes the branch, returns the SHA.
async fn commit(h: &NsConnection, file: &str, text: &str) -> String {
    work(
        h,
        &format!(
            "echo {text} > {file} && git add -A && git commit -q -m {text} && git push -q --all origin && git push -q --tags origin && git rev-parse HEAD"
        ),
    )
    .await
    .trim()
    .to_owned()
}

async fn head(h: &NsConnection, dest: &str) -> String {
    h.sh_ok(&format!("git -C {dest} rev-parse HEAD"))
        .await
        .trim()
        .to_owned()
}

fn git(dest: &str, more: Value) -> Value {
    let mut a = json!({"repo": SRC, "dest": dest});
    for (k, v) in more.as_object().expect("object") {
        a[k] = v.clone();
    }
    a
}

#[tokio::test]
async fn git_clones_updates_and_follows_versions() {
    let _g = lab_lock().await;
    let Some(h) = lab_host(HOST) else { return };
    let added = h.install("git").await;
    h.sh_ok(&format!(
        "rm -rf {T} && mkdir -p {T} && git init -q --bare -b main {SRC} && git clone -q {SRC} {T}/work 2>/dev/null"
    ))
    .await;
    let c1 = commit(&h, "a.txt", "one").await;
    work(&h, "git tag v1").await;
    let c2 = commit(&h, "a.txt", "two").await;
    work(&h, "git tag -a v2 -m v2 && git push -q --tags origin").await;
    work(&h, "git checkout -q -b dev").await;
    let c3 = commit(&h, "b.txt", "dev").await;
    work(&h, "git checkout -q main").await;

    // Check mode before a clone: the remote's commit, nothing written.
    let co = format!("{T}/co");
    let p = check(&h, "git", git(&co, json!({}))).await.expect("check");
    assert!(p.changed);
    assert_eq!(p.result["after"], json!(c2));
    assert_eq!(p.result["before"], Value::Null);
    assert_eq!(
        h.sh_ok(&format!("test -e {co} && echo yes || echo no"))
            .await
            .trim(),
        "no"
    );

    // Clone (HEAD: the remote's default branch).
    let r = converge(&h, "git", git(&co, json!({}))).await;
    assert_eq!(r.result["after"], json!(c2));
    assert_eq!(head(&h, &co).await, c2);
    assert_eq!(h.sh_ok(&format!("cat {co}/a.txt")).await, "two\n");

    // The remote moves on: updated, before and after as Ansible's.
    let c4 = commit(&h, "a.txt", "four").await;
    let r = converge(&h, "git", git(&co, json!({}))).await;
    assert_eq!(r.result["before"], json!(c2));
    assert_eq!(r.result["after"], json!(c4));
    assert_eq!(r.result["remote_url_changed"], json!(false));
    assert_eq!(head(&h, &co).await, c4);

    // Tags (a light one, an annotated one: its commit), a commit SHA, a branch.
    converge(&h, "git", git(&co, json!({"version": "v1"}))).await;
    assert_eq!(head(&h, &co).await, c1);
    let r = converge(&h, "git", git(&co, json!({"version": "v2"}))).await;
    assert_eq!(r.result["after"], json!(c2));
    assert_eq!(head(&h, &co).await, c2);
    converge(&h, "git", git(&co, json!({"version": c1}))).await;
    assert_eq!(head(&h, &co).await, c1);
    // A short SHA the checkout knows: resolved there, so check mode knows the full one.
    converge(&h, "git", git(&co, json!({"version": "v2"}))).await;
    let r = converge(&h, "git", git(&co, json!({"version": &c1[..7]}))).await;
    assert_eq!(r.result["after"], json!(c1));
    assert_eq!(head(&h, &co).await, c1);
    converge(&h, "git", git(&co, json!({"version": "dev"}))).await;
    assert_eq!(head(&h, &co).await, c3);
    // A branch follows its remote branch.
    work(&h, "git checkout -q dev").await;
    let c5 = commit(&h, "b.txt", "dev2").await;
    work(&h, "git checkout -q main").await;
    let r = converge(&h, "git", git(&co, json!({"version": "dev"}))).await;
    assert_eq!(
        (r.result["before"].clone(), r.result["after"].clone()),
        (json!(c3), json!(c5))
    );
    assert_eq!(head(&h, &co).await, c5);

    // update: no leaves the checkout alone even when the remote differs, without asking it.
    let gone = json!({"repo": format!("{T}/gone.git"), "dest": co, "update": false});
    let p = apply(&h, "git", gone).await.expect("update: no");
    assert_eq!((p.changed, p.result["after"].clone()), (false, json!(c5)));
    // A repository that is not there: a failure naming git's complaint, nothing written.
    let none = json!({"repo": format!("{T}/gone.git"), "dest": format!("{T}/gone")});
    let err = apply(&h, "git", none).await.unwrap_err().to_string();
    assert!(
        err.contains("does not appear to be a git repository"),
        "{err}"
    );
    assert_eq!(
        h.sh_ok(&format!("ls -d {T}/gone* 2>/dev/null; true")).await,
        ""
    );
    let p = apply(&h, "git", git(&co, json!({"update": false})))
        .await
        .expect("update no");
    assert!(!p.changed);
    assert_eq!(p.result["after"], json!(c5));

    // Local modifications: a failure unless force; with force they are reset.
    h.sh_ok(&format!("echo mine > {co}/b.txt")).await;
    let err = apply(&h, "git", git(&co, json!({"version": "main"})))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "Local modifications exist in the destination: {co} (force=no)."
        )),
        "{err}"
    );
    let err = check(&h, "git", git(&co, json!({"version": "main"})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Local modifications"), "{err}");
    converge(
        &h,
        "git",
        git(&co, json!({"version": "main", "force": true})),
    )
    .await;
    assert_eq!(head(&h, &co).await, c4);
    assert_eq!(
        h.sh_ok(&format!("git -C {co} status --porcelain")).await,
        ""
    );

    // The same URL spelled otherwise is no change (Ansible's normpath); another URL for the
    // same repository is set and reported as remote_url_changed.
    let same =
        json!({"repo": format!("file://{T}/./x/../src.git/"), "dest": co, "version": "main"});
    let p = apply(&h, "git", same).await.expect("same URL");
    assert_eq!(
        (p.changed, p.result["remote_url_changed"].clone()),
        (false, json!(false))
    );
    h.sh_ok(&format!("ln -s src.git {T}/link.git")).await;
    let other = format!("file://{T}/link.git");
    let r = converge(
        &h,
        "git",
        json!({"repo": other, "dest": co, "version": "main"}),
    )
    .await;
    assert_eq!(r.result["remote_url_changed"], json!(true));
    assert_eq!(
        h.sh_ok(&format!("git -C {co} remote get-url origin"))
            .await
            .trim(),
        other
    );

    // A shallow clone of a branch, a bare clone, another remote name.
    let sh = format!("{T}/shallow");
    converge(&h, "git", git(&sh, json!({"depth": 1, "version": "dev"}))).await;
    assert_eq!(head(&h, &sh).await, c5);
    assert_eq!(
        h.sh_ok(&format!("git -C {sh} rev-list --count HEAD"))
            .await
            .trim(),
        "1"
    );
    let bare = format!("{T}/bare.git");
    let r = converge(&h, "git", git(&bare, json!({"bare": true}))).await;
    assert_eq!(r.result["after"], json!(c4));
    assert_eq!(
        h.sh_ok(&format!("git -C {bare} rev-parse --is-bare-repository"))
            .await
            .trim(),
        "true"
    );
    let bare2 = format!("{T}/bare2.git");
    let r = converge(
        &h,
        "git",
        git(&bare2, json!({"bare": true, "version": "dev"})),
    )
    .await;
    assert_eq!(
        r.result["after"],
        json!(c4),
        "a bare clone's HEAD is the remote's"
    );
    let bare3 = format!("{T}/bare3.git");
    let args = json!({"bare": true, "version": "dev", "single_branch": true, "remote": "up"});
    let r = converge(&h, "git", git(&bare3, args)).await;
    assert_eq!(r.result["after"], json!(c5), "--single-branch --branch dev");
    assert_eq!(
        h.sh_ok(&format!("git -C {bare3} remote")).await,
        "origin\nup\n"
    );
    let up = format!("{T}/up");
    converge(
        &h,
        "git",
        git(&up, json!({"remote": "upstream", "version": "v2"})),
    )
    .await;
    assert_eq!(head(&h, &up).await, c2);
    // The remote moves on: an update with another remote name; a shallow checkout follows its
    // branch with a shallow fetch, then moves to a tag.
    work(&h, "git checkout -q dev").await;
    let c7 = commit(&h, "b.txt", "dev3").await;
    work(&h, "git checkout -q main").await;
    let args = json!({"remote": "upstream", "version": "dev"});
    converge(&h, "git", git(&up, args)).await;
    assert_eq!(head(&h, &up).await, c7);
    let r = converge(&h, "git", git(&sh, json!({"depth": 1, "version": "dev"}))).await;
    assert_eq!(r.result["before"], json!(c5));
    assert_eq!(head(&h, &sh).await, c7);
    converge(&h, "git", git(&sh, json!({"depth": 1, "version": "v2"}))).await;
    assert_eq!(head(&h, &sh).await, c2);
    let count = h.sh_ok(&format!("git -C {sh} rev-list --count HEAD")).await;
    assert_eq!(count.trim(), "1", "still shallow");

    // clone: no without a checkout: Ansible reports the remote's commit as a change.
    let p = apply(
        &h,
        "git",
        git(&format!("{T}/none"), json!({"clone": false})),
    )
    .await
    .expect("clone no");
    assert!(p.changed);
    assert_eq!(p.result["after"], json!(c4));

    // The same checkout as Ansible's: files and HEAD.
    let ac = format!("{T}/ans");
    let files = format!("{ac}/* {ac}/.git/HEAD");
    let reset = || async {
        h.sh_ok(&format!("rm -rf {ac}")).await;
    };
    if let Some((theirs, ours)) = same_as_ansible(
        &h,
        "git",
        git(&ac, json!({"version": "dev"})),
        &files,
        reset,
    )
    .await
    {
        assert_eq!(theirs["after"], ours.result["after"]);
        assert_eq!(theirs["before"], ours.result["before"]);
    }
    // What check mode predicts for a tag is what Ansible then does.
    let ours = check(&h, "git", git(&ac, json!({"version": "v1"})))
        .await
        .expect("check");
    if let Some(theirs) = support::ansible(HOST, "git", &git(&ac, json!({"version": "v1"}))) {
        assert_eq!(theirs["changed"], json!(true));
        assert!(ours.changed);
        assert_eq!(ours.result["before"], theirs["before"]);
        assert_eq!(ours.result["after"], theirs["after"]);
        assert_eq!(head(&h, &ac).await, c1);
    }

    // Submodules (recursive, the default): cloned with the checkout, then nothing to do. Local file URLs in submodules need git's
    // protocol.file.allow (for Ansible as for prov): set for the test, removed after.
    h.sh_ok(&format!(
        "git config --system protocol.file.allow always && git init -q --bare -b main {T}/sub.git && git clone -q {T}/sub.git {T}/subwork 2>/dev/null"
    ))
    .await;
    let s1 = work(&h, &format!("cd {T}/subwork && echo s1 > s && git add s && git commit -q -m s1 && git push -q origin main && git rev-parse HEAD")).await;
    work(&h, &format!("echo s2 > {T}/subwork/s && git -C {T}/subwork commit -q -am s2 && git -C {T}/subwork push -q origin main")).await;
    work(&h, &format!("git checkout -q -b withsub && git submodule add -q file://{T}/sub.git lib && git -C lib checkout -q {} && git add lib", s1.trim())).await;
    let c6 = commit(&h, "c.txt", "sub").await;
    work(&h, "git checkout -q main").await;
    let ws = format!("{T}/withsub");
    let r = converge(&h, "git", git(&ws, json!({"version": "withsub"}))).await;
    assert_eq!(r.result["after"], json!(c6));
    assert_eq!(head(&h, &format!("{ws}/lib")).await, s1.trim());
    // A submodule moved by hand is a local modification (`git status`), as in Ansible: a
    // failure unless force, which puts it back.
    h.sh_ok(&format!("git -C {ws}/lib checkout -q main")).await;
    let err = apply(&h, "git", git(&ws, json!({"version": "withsub"})))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Local modifications"), "{err}");
    let r = converge(
        &h,
        "git",
        git(&ws, json!({"version": "withsub", "force": true})),
    )
    .await;
    assert_eq!(
        (r.result["before"].clone(), r.result["after"].clone()),
        (json!(c6), json!(c6))
    );
    assert_eq!(head(&h, &format!("{ws}/lib")).await, s1.trim());
    let p = apply(
        &h,
        "git",
        git(
            &format!("{T}/nosub"),
            json!({"version": "withsub", "recursive": false}),
        ),
    )
    .await
    .expect("no submodules");
    assert!(p.changed);
    assert_eq!(h.sh_ok(&format!("ls -A {T}/nosub/lib")).await, "");
    h.sh_ok("git config --system --unset protocol.file.allow; [ -s /etc/gitconfig ] || rm -f /etc/gitconfig").await;

    h.sh_ok(&format!("rm -rf {T}")).await;
    h.purge(&added).await;
}

#[tokio::test]
async fn apache2_module_enables_and_disables_as_ansible() {
    let _g = lab_lock().await;
    let Some(h) = lab_host(HOST) else { return };
    let added = h.install("apache2").await;
    let enabled = "/etc/apache2/mods-enabled/*";
    let is_on = |m: &'static str| {
        let h = &h;
        async move {
            h.sh(&format!(
                "apache2ctl -M 2>/dev/null | grep -q ' {m}_module'"
            ))
            .await
            .success()
        }
    };
    assert!(!is_on("rewrite").await, "rewrite starts disabled");

    let reset = || async {
        h.sh_ok(
            "a2dismod -q rewrite >/dev/null 2>&1; a2dismod -q -f speling >/dev/null 2>&1; true",
        )
        .await;
    };
    let args = json!({"name": "rewrite"});
    if let Some((theirs, ours)) =
        same_as_ansible(&h, "apache2_module", args.clone(), enabled, reset).await
    {
        assert_eq!(theirs["result"], ours.result["result"]);
    }
    reset().await;
    let r = converge(&h, "apache2_module", args).await;
    assert_eq!(r.result["result"], json!("Module rewrite enabled"));
    assert_eq!(r.summary, ["enable apache module rewrite"]);
    assert!(is_on("rewrite").await);

    let args = json!({"name": "rewrite", "state": "absent", "force": true});
    let r = converge(&h, "apache2_module", args.clone()).await;
    assert_eq!(r.result["result"], json!("Module rewrite disabled"));
    assert!(!is_on("rewrite").await);
    same_as_ansible(&h, "apache2_module", args, enabled, || async {
        h.sh_ok("a2enmod -q rewrite >/dev/null").await;
    })
    .await;

    // A wrong identifier: the module is enabled but never seen, as Ansible says.
    let err = apply(
        &h,
        "apache2_module",
        json!({"name": "speling", "identifier": "nope_module"}),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("Failed to set module speling to enabled"),
        "{err}"
    );
    reset().await;

    if added.split_whitespace().any(|p| p == "apache2") {
        h.purge(&added).await;
        h.sh_ok("rm -rf /etc/apache2 /var/log/apache2 /var/lib/apache2")
            .await;
    }
}
