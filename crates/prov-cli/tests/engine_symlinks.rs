//! What every file module does when its path, or a parent directory of it, is a symbolic link
//! (issue 14): a link to a regular file, a dangling link, a symlinked parent directory, and
//! what `--check` predicts for each. These tests pin the behaviour that the "Symlinks" section
//! of docs/reliability.md describes, so the two cannot drift apart. Real `prov` binary, local
//! connection, everything inside the test's temporary project folder.

mod engine_support;

use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::Path;

use engine_support::{Outcome, Project};
use serde_json::Value;

/// SHA-1 of "old\n", the content of `real.txt`.
const SHA1_OLD: &str = "281bac2b704617e807850e07e54bae3469f6a2e7";

fn is_link(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

fn is_regular_file(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_file())
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

fn mode_of(p: &Path) -> u32 {
    std::fs::metadata(p).expect("stat").permissions().mode() & 0o7777
}

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The summary lines of the one result of `task` on h1.
fn summary(o: &Outcome, task: &str) -> Vec<String> {
    o.result("h1", task)["summary"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The project folder as the host sees it with every link resolved (`readlink -f`).
fn canonical_root(p: &Project) -> String {
    std::fs::canonicalize(p.root())
        .expect("canonicalize")
        .display()
        .to_string()
}

/// `real.txt` ("old\n"), `link.txt -> real.txt`, `dangling.txt -> missing.txt`,
/// `realdir/` with `in.txt` ("old\n") and `linkdir -> realdir`.
fn layout(p: &Project) {
    p.write("real.txt", "old\n");
    p.write("realdir/in.txt", "old\n");
    symlink("real.txt", p.path("link.txt")).expect("symlink");
    symlink("missing.txt", p.path("dangling.txt")).expect("symlink");
    symlink("realdir", p.path("linkdir")).expect("symlink");
}

// ---------------------------------------------------------------------------------------------
// copy and template

#[test]
fn copy_replaces_a_symlinked_dest_by_a_regular_file_and_leaves_the_target_alone() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: over link
      copy:
        content: "new\n"
        dest: "{{ playbook_dir }}/link.txt"
    - name: over dangling
      copy:
        content: "new\n"
        dest: "{{ playbook_dir }}/dangling.txt"
"#,
    );
    layout(&p);
    let link = p.path("link.txt").display().to_string();
    let dangling = p.path("dangling.txt").display().to_string();

    let check = p.run("play.yml", &["--check"]);
    check.expect_code(0);
    assert_eq!(check.status("h1", "over link"), "changed");
    assert_eq!(
        summary(&check, "over link"),
        vec![format!("update {link} (+1 -1 lines)")]
    );
    assert_eq!(
        summary(&check, "over dangling"),
        vec![format!("create {dangling} (4 bytes)")]
    );
    assert!(is_link(&p.path("link.txt")) && is_link(&p.path("dangling.txt")));
    assert_eq!(read(&p.path("real.txt")), "old\n");

    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.status("h1", "over link"), "changed");
    assert_eq!(
        o.result("h1", "over link")["result"]["dest"],
        Value::from(link)
    );
    assert!(is_regular_file(&p.path("link.txt")), "the link is replaced");
    assert_eq!(read(&p.path("link.txt")), "new\n");
    assert_eq!(
        read(&p.path("real.txt")),
        "old\n",
        "the target is untouched"
    );
    assert!(is_regular_file(&p.path("dangling.txt")));
    assert_eq!(read(&p.path("dangling.txt")), "new\n");
    assert!(
        !p.path("missing.txt").exists(),
        "a dangling link's target is never created"
    );
}

#[test]
fn copy_keeps_a_symlinked_dest_whose_target_already_has_the_content_and_sets_modes_on_the_target() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: same content
      copy:
        content: "old\n"
        dest: "{{ playbook_dir }}/link.txt"
    - name: same content new mode
      copy:
        content: "old\n"
        dest: "{{ playbook_dir }}/link.txt"
        mode: "0600"
"#,
    );
    layout(&p);
    set_mode(&p.path("real.txt"), 0o644);
    let link = p.path("link.txt").display().to_string();

    let check = p.run("play.yml", &["--check"]);
    check.expect_code(0);
    assert_eq!(check.status("h1", "same content"), "ok");
    assert_eq!(
        summary(&check, "same content new mode"),
        vec![format!("mode of {link}: 0644 -> 0600")]
    );
    assert_eq!(mode_of(&p.path("real.txt")), 0o644);

    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.status("h1", "same content"), "ok");
    assert_eq!(o.status("h1", "same content new mode"), "changed");
    assert!(is_link(&p.path("link.txt")), "the link stays a link");
    assert_eq!(
        mode_of(&p.path("real.txt")),
        0o600,
        "mode set on the target"
    );
    assert_eq!(read(&p.path("real.txt")), "old\n");
}

#[test]
fn copy_and_template_with_follow_write_the_link_target_and_keep_the_link() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: copy follow
      copy:
        content: "new\n"
        dest: "{{ playbook_dir }}/link.txt"
        follow: yes
    - name: template follow
      template:
        src: t.j2
        dest: "{{ playbook_dir }}/link2.txt"
        follow: yes
    - name: template no follow
      template:
        src: t.j2
        dest: "{{ playbook_dir }}/link3.txt"
"#,
    );
    layout(&p);
    p.write("real2.txt", "old\n");
    p.write("real3.txt", "old\n");
    symlink("real2.txt", p.path("link2.txt")).expect("symlink");
    symlink("real3.txt", p.path("link3.txt")).expect("symlink");
    p.write("templates/t.j2", "rendered\n");
    let real = format!("{}/real.txt", canonical_root(&p));

    let check = p.run("play.yml", &["--check"]);
    check.expect_code(0);
    assert_eq!(
        summary(&check, "copy follow"),
        vec![format!("update {real} (+1 -1 lines)")],
        "check mode names the target it will write"
    );
    assert_eq!(read(&p.path("real.txt")), "old\n");

    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(
        o.result("h1", "copy follow")["result"]["dest"],
        Value::from(real)
    );
    assert!(is_link(&p.path("link.txt")));
    assert_eq!(read(&p.path("real.txt")), "new\n");
    assert!(is_link(&p.path("link2.txt")));
    assert_eq!(read(&p.path("real2.txt")), "rendered\n");
    assert!(
        is_regular_file(&p.path("link3.txt")),
        "template without follow replaces the link like copy"
    );
    assert_eq!(read(&p.path("link3.txt")), "rendered\n");
    assert_eq!(read(&p.path("real3.txt")), "old\n");

    let again = p.run("play.yml", &[]);
    again.expect_code(0);
    assert_eq!(again.count("h1", "changed"), 0, "{}", again.dump());
}

#[test]
fn copy_and_template_write_through_a_symlinked_parent_directory() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: copy in linked dir
      copy:
        content: "new\n"
        dest: "{{ playbook_dir }}/linkdir/c.txt"
    - name: template in linked dir
      template:
        src: t.j2
        dest: "{{ playbook_dir }}/linkdir/t.txt"
    - name: copy into link to dir
      copy:
        src: s.txt
        dest: "{{ playbook_dir }}/linkdir"
    - name: copy in dangling dir
      copy:
        content: "new\n"
        dest: "{{ playbook_dir }}/nodir/c.txt"
      ignore_errors: yes
"#,
    );
    layout(&p);
    symlink("missingdir", p.path("nodir")).expect("symlink");
    p.write("templates/t.j2", "rendered\n");
    p.write("files/s.txt", "source\n");
    let nodir = p.path("nodir").display().to_string();

    let check = p.run("play.yml", &["--check"]);
    check.expect_code(0);
    assert_eq!(check.status("h1", "copy in linked dir"), "changed");
    assert_eq!(
        summary(&check, "copy in dangling dir"),
        vec![
            format!("create {nodir}/c.txt (4 bytes)"),
            format!("(directory {nodir} does not exist yet: an earlier task must create it)"),
        ]
    );
    assert!(!p.path("realdir/c.txt").exists());

    let o = p.run("play.yml", &[]);
    assert_eq!(
        o.status("h1", "copy in dangling dir"),
        "ignored",
        "{}",
        o.dump()
    );
    assert_eq!(
        o.msg("h1", "copy in dangling dir"),
        format!("Destination directory {nodir} does not exist")
    );
    assert!(!p.path("missingdir").exists(), "never created");
    assert!(is_link(&p.path("linkdir")), "the parent link stays");
    assert_eq!(read(&p.path("realdir/c.txt")), "new\n");
    assert_eq!(read(&p.path("realdir/t.txt")), "rendered\n");
    assert_eq!(
        read(&p.path("realdir/s.txt")),
        "source\n",
        "a dest that is a link to a directory gets the file inside that directory"
    );
}

// ---------------------------------------------------------------------------------------------
// lineinfile and blockinfile

#[test]
fn lineinfile_and_blockinfile_edit_the_target_of_a_symlinked_path_and_keep_the_link() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: line
      lineinfile:
        path: "{{ playbook_dir }}/link.txt"
        line: "added"
    - name: block
      blockinfile:
        path: "{{ playbook_dir }}/link2.txt"
        block: "b"
    - name: line in linked dir
      lineinfile:
        path: "{{ playbook_dir }}/linkdir/in.txt"
        line: "added"
"#,
    );
    layout(&p);
    p.write("real2.txt", "old\n");
    symlink("real2.txt", p.path("link2.txt")).expect("symlink");
    let root = canonical_root(&p);

    let check = p.run("play.yml", &["--check"]);
    check.expect_code(0);
    assert_eq!(
        summary(&check, "line"),
        vec![format!("update {root}/real.txt (+1 -0 lines)")],
        "check mode names the link's target"
    );
    assert_eq!(
        summary(&check, "block"),
        vec![format!("update {root}/real2.txt (+3 -0 lines)")]
    );
    assert_eq!(read(&p.path("real.txt")), "old\n");

    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert!(is_link(&p.path("link.txt")) && is_link(&p.path("link2.txt")));
    assert_eq!(read(&p.path("real.txt")), "old\nadded\n");
    assert_eq!(
        read(&p.path("real2.txt")),
        "old\n# BEGIN ANSIBLE MANAGED BLOCK\nb\n# END ANSIBLE MANAGED BLOCK\n"
    );
    assert!(is_link(&p.path("linkdir")));
    assert_eq!(read(&p.path("realdir/in.txt")), "old\nadded\n");

    let again = p.run("play.yml", &[]);
    again.expect_code(0);
    assert_eq!(again.count("h1", "changed"), 0, "{}", again.dump());
}

#[test]
fn lineinfile_and_blockinfile_create_the_target_of_a_dangling_link_and_keep_the_link() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: line no create
      lineinfile:
        path: "{{ playbook_dir }}/dangling.txt"
        line: "added"
      ignore_errors: yes
    - name: line create
      lineinfile:
        path: "{{ playbook_dir }}/dangling.txt"
        line: "added"
        create: yes
    - name: block create
      blockinfile:
        path: "{{ playbook_dir }}/dangling2.txt"
        block: "b"
        create: yes
    - name: line create in missing dir
      lineinfile:
        path: "{{ playbook_dir }}/dangling3.txt"
        line: "added"
        create: yes
      ignore_errors: yes
"#,
    );
    layout(&p);
    symlink("missing2.txt", p.path("dangling2.txt")).expect("symlink");
    symlink("nodir/missing3.txt", p.path("dangling3.txt")).expect("symlink");
    let root = canonical_root(&p);
    let dangling = p.path("dangling.txt").display().to_string();
    let dangling3 = p.path("dangling3.txt").display().to_string();
    let unresolvable = format!(
        "lineinfile: {dangling3} is a symbolic link that cannot be resolved (a loop, or its target's directory does not exist)"
    );

    let check = p.run("play.yml", &["--check"]);
    check.expect_code(0);
    assert_eq!(check.status("h1", "line no create"), "ignored");
    assert_eq!(check.status("h1", "line create"), "changed");
    assert_eq!(
        summary(&check, "line create"),
        vec![format!("create {root}/missing.txt (6 bytes)")],
        "check mode names the link's target"
    );
    assert_eq!(
        summary(&check, "block create"),
        vec![format!("create {root}/missing2.txt (60 bytes)")]
    );
    assert_eq!(check.status("h1", "line create in missing dir"), "ignored");
    assert_eq!(check.msg("h1", "line create in missing dir"), unresolvable);
    assert!(is_link(&p.path("dangling.txt")));
    assert!(!p.path("missing.txt").exists());

    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.status("h1", "line no create"), "ignored", "{}", o.dump());
    assert_eq!(
        o.msg("h1", "line no create"),
        format!("Destination {dangling} does not exist !")
    );
    assert_eq!(o.status("h1", "line create"), "changed");
    assert_eq!(o.status("h1", "block create"), "changed");
    assert!(is_link(&p.path("dangling.txt")), "the link stays");
    assert_eq!(
        read(&p.path("missing.txt")),
        "added\n",
        "its target is created"
    );
    assert!(is_link(&p.path("dangling2.txt")), "the link stays");
    assert_eq!(
        read(&p.path("missing2.txt")),
        "# BEGIN ANSIBLE MANAGED BLOCK\nb\n# END ANSIBLE MANAGED BLOCK\n"
    );
    assert_eq!(o.status("h1", "line create in missing dir"), "ignored");
    assert_eq!(o.msg("h1", "line create in missing dir"), unresolvable);
    assert!(is_link(&p.path("dangling3.txt")) && !p.path("nodir").exists());

    let again = p.run("play.yml", &[]);
    assert_eq!(again.count("h1", "changed"), 0, "{}", again.dump());
}

// ---------------------------------------------------------------------------------------------
// file

#[test]
fn file_state_file_and_directory_follow_links_by_default_and_refuse_them_with_follow_no() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: file follow
      file:
        path: "{{ playbook_dir }}/link.txt"
        state: file
        mode: "0600"
    - name: file no follow
      file:
        path: "{{ playbook_dir }}/link.txt"
        state: file
        follow: no
      ignore_errors: yes
    - name: file dangling
      file:
        path: "{{ playbook_dir }}/dangling.txt"
        state: file
      ignore_errors: yes
    - name: dir follow
      file:
        path: "{{ playbook_dir }}/linkdir"
        state: directory
        mode: "0700"
    - name: dir no follow
      file:
        path: "{{ playbook_dir }}/linkdir"
        state: directory
        follow: no
      ignore_errors: yes
    - name: dir dangling
      file:
        path: "{{ playbook_dir }}/nodir"
        state: directory
      ignore_errors: yes
    - name: dir under linked parent
      file:
        path: "{{ playbook_dir }}/linkdir/sub/deeper"
        state: directory
"#,
    );
    layout(&p);
    symlink("missingdir", p.path("nodir")).expect("symlink");
    set_mode(&p.path("real.txt"), 0o644);
    set_mode(&p.path("realdir"), 0o755);
    let link = p.path("link.txt").display().to_string();
    let linkdir = p.path("linkdir").display().to_string();
    let nodir = p.path("nodir").display().to_string();
    let dangling = p.path("dangling.txt").display().to_string();

    let check = p.run("play.yml", &["--check"]);
    assert_eq!(
        summary(&check, "file follow"),
        vec![format!("mode of {link}: 0644 -> 0600")]
    );
    assert_eq!(
        summary(&check, "dir follow"),
        vec![format!("mode of {linkdir}: 0755 -> 0700")]
    );
    assert_eq!(check.status("h1", "dir dangling"), "ignored");
    assert_eq!(mode_of(&p.path("real.txt")), 0o644);
    assert!(!p.path("realdir/sub").exists());

    let o = p.run("play.yml", &[]);
    assert_eq!(o.status("h1", "file follow"), "changed", "{}", o.dump());
    assert!(is_link(&p.path("link.txt")));
    assert_eq!(
        mode_of(&p.path("real.txt")),
        0o600,
        "mode set on the target"
    );
    assert_eq!(
        o.msg("h1", "file no follow"),
        format!("file ({link}) is link, cannot continue")
    );
    assert_eq!(
        o.msg("h1", "file dangling"),
        format!("file ({dangling}) is absent, cannot continue")
    );
    assert!(is_link(&p.path("linkdir")));
    assert_eq!(mode_of(&p.path("realdir")), 0o700);
    assert_eq!(
        o.msg("h1", "dir no follow"),
        format!("{linkdir} already exists as a link")
    );
    assert_eq!(
        o.msg("h1", "dir dangling"),
        format!("cannot create {nodir}: {nodir} exists and is not a directory")
    );
    assert!(
        !p.path("missingdir").exists(),
        "a dangling link's target directory is not created"
    );
    assert!(p.path("realdir/sub/deeper").is_dir());
}

/// The modification time of `p` (following links) in seconds since the epoch.
fn mtime_secs(p: &Path) -> u64 {
    std::fs::metadata(p)
        .expect("stat")
        .modified()
        .expect("mtime")
        .duration_since(std::time::UNIX_EPOCH)
        .expect("epoch")
        .as_secs()
}

/// 2020-01-01 12:00 in whatever time zone the host has.
fn is_2020_01_01(secs: u64) -> bool {
    (1_577_836_800 - 86_400..1_577_836_800 + 2 * 86_400).contains(&secs)
}

#[test]
fn file_touch_sets_the_times_of_a_link_target_and_refuses_a_dangling_link() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: touch link
      file:
        path: "{{ playbook_dir }}/link.txt"
        state: touch
        modification_time: "202001011200.00"
    - name: touch dangling
      file:
        path: "{{ playbook_dir }}/dangling.txt"
        state: touch
      ignore_errors: yes
    - name: touch dangling no follow
      file:
        path: "{{ playbook_dir }}/dangling.txt"
        state: touch
        follow: no
      ignore_errors: yes
"#,
    );
    layout(&p);
    let dangling = p.path("dangling.txt").display().to_string();
    let refused = format!(
        "Error while updating modification or access time: {dangling} is a dangling symbolic link (its target missing.txt does not exist)"
    );
    let link_mtime = |p: &Project| {
        std::fs::symlink_metadata(p.path("link.txt"))
            .expect("lstat")
            .modified()
            .expect("mtime")
    };
    let link_before = link_mtime(&p);

    let check = p.run("play.yml", &["--check"]);
    check.expect_code(0);
    assert_eq!(check.status("h1", "touch link"), "changed");
    for task in ["touch dangling", "touch dangling no follow"] {
        assert_eq!(check.status("h1", task), "ignored", "{}", check.dump());
        assert_eq!(check.msg("h1", task), refused);
    }
    assert!(!p.path("missing.txt").exists());

    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.status("h1", "touch link"), "changed");
    assert!(is_link(&p.path("link.txt")));
    let mtime = mtime_secs(&p.path("real.txt"));
    assert!(is_2020_01_01(mtime), "the target's mtime is set: {mtime}");
    assert_eq!(link_mtime(&p), link_before, "the link's own mtime is kept");
    for task in ["touch dangling", "touch dangling no follow"] {
        assert_eq!(o.status("h1", task), "ignored", "{}", o.dump());
        assert_eq!(o.msg("h1", task), refused);
    }
    assert!(is_link(&p.path("dangling.txt")), "the dangling link stays");
    assert!(
        !p.path("missing.txt").exists(),
        "touch never creates a dangling link's target (as Ansible)"
    );
}

#[test]
fn file_touch_with_follow_no_keeps_the_link_and_settles() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: touch no follow
      file:
        path: "{{ playbook_dir }}/link2.txt"
        state: touch
        follow: no
        modification_time: preserve
        access_time: preserve
        mode: "0600"
    - name: touch no follow time
      file:
        path: "{{ playbook_dir }}/link2.txt"
        state: touch
        follow: no
        modification_time: "202001011200.00"
        access_time: preserve
"#,
    );
    layout(&p);
    p.write("real2.txt", "two\n");
    set_mode(&p.path("real2.txt"), 0o644);
    symlink("real2.txt", p.path("link2.txt")).expect("symlink");
    let link2 = p.path("link2.txt").display().to_string();

    let check = p.run("play.yml", &["--check"]);
    check.expect_code(0);
    assert_eq!(
        check.status("h1", "touch no follow"),
        "ok",
        "mode on a link is a no-op: {}",
        check.dump()
    );
    assert_eq!(check.status("h1", "touch no follow time"), "changed");
    assert!(
        summary(&check, "touch no follow time")[0]
            .starts_with(&format!("set modification time of {link2} to @")),
        "{:?}",
        summary(&check, "touch no follow time")
    );

    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.status("h1", "touch no follow"), "ok");
    assert_eq!(o.status("h1", "touch no follow time"), "changed");
    assert!(is_link(&p.path("link2.txt")));
    assert_eq!(
        mode_of(&p.path("real2.txt")),
        0o644,
        "follow: no leaves the target's mode alone"
    );
    let mtime = mtime_secs(&p.path("real2.txt"));
    assert!(
        is_2020_01_01(mtime),
        "the times go through the link, as Ansible's utime: {mtime}"
    );

    let again = p.run("play.yml", &[]);
    again.expect_code(0);
    assert_eq!(again.count("h1", "changed"), 0, "{}", again.dump());
}

#[test]
fn file_touch_with_follow_no_sets_owner_and_group_on_the_link() {
    use std::os::unix::fs::MetadataExt as _;
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: touch owned
      file:
        path: "{{ playbook_dir }}/link.txt"
        state: touch
        follow: no
        modification_time: preserve
        access_time: preserve
        owner: "1"
        group: "1"
"#,
    );
    layout(&p);
    if std::fs::metadata(p.path("real.txt")).expect("stat").uid() != 0 {
        eprintln!("not root: chown cannot be tested");
        return;
    }
    let check = p.run("play.yml", &["--check"]);
    check.expect_code(0);
    assert_eq!(check.status("h1", "touch owned"), "changed");
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.status("h1", "touch owned"), "changed");
    let link = std::fs::symlink_metadata(p.path("link.txt")).expect("lstat");
    assert_eq!((link.uid(), link.gid()), (1, 1), "the link is chowned (-h)");
    let target = std::fs::metadata(p.path("real.txt")).expect("stat");
    assert_eq!((target.uid(), target.gid()), (0, 0), "the target is not");
    let again = p.run("play.yml", &[]);
    assert_eq!(again.status("h1", "touch owned"), "ok", "{}", again.dump());
}

#[test]
fn file_absent_and_link_act_on_the_link_itself_never_on_its_target() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: remove link to dir
      file:
        path: "{{ playbook_dir }}/linkdir"
        state: absent
    - name: remove dangling
      file:
        path: "{{ playbook_dir }}/dangling.txt"
        state: absent
    - name: remove through linked parent
      file:
        path: "{{ playbook_dir }}/linkdir2/gone.txt"
        state: absent
    - name: relink
      file:
        path: "{{ playbook_dir }}/dirlink"
        src: real.txt
        state: link
    - name: link over file
      file:
        path: "{{ playbook_dir }}/plain.txt"
        src: real.txt
        state: link
      ignore_errors: yes
"#,
    );
    layout(&p);
    p.write("realdir2/gone.txt", "x\n");
    p.write("realdir2/kept.txt", "x\n");
    p.write("plain.txt", "plain\n");
    symlink("realdir2", p.path("linkdir2")).expect("symlink");
    symlink("realdir", p.path("dirlink")).expect("symlink");
    let dirlink = p.path("dirlink").display().to_string();
    let plain = p.path("plain.txt").display().to_string();

    let check = p.run("play.yml", &["--check"]);
    assert_eq!(
        summary(&check, "relink"),
        vec![format!("symlink {dirlink} -> real.txt")]
    );
    assert!(p.path("realdir2/gone.txt").exists());
    assert!(is_link(&p.path("linkdir")));

    let o = p.run("play.yml", &[]);
    assert_eq!(
        o.status("h1", "remove link to dir"),
        "changed",
        "{}",
        o.dump()
    );
    assert!(!is_link(&p.path("linkdir")), "the link is removed");
    assert_eq!(
        read(&p.path("realdir/in.txt")),
        "old\n",
        "the directory it pointed to and its content are kept"
    );
    assert!(std::fs::symlink_metadata(p.path("dangling.txt")).is_err());
    assert!(!p.path("realdir2/gone.txt").exists());
    assert!(p.path("realdir2/kept.txt").exists() && is_link(&p.path("linkdir2")));
    assert_eq!(
        std::fs::read_link(p.path("dirlink")).expect("readlink"),
        Path::new("real.txt"),
        "a link to a directory is replaced, nothing is created inside the directory"
    );
    assert!(!p.path("realdir/real.txt").exists());
    assert_eq!(
        o.msg("h1", "link over file"),
        format!("refusing to convert from file to symlink for {plain}")
    );
    assert_eq!(read(&p.path("plain.txt")), "plain\n");
}

#[test]
fn file_recurse_never_follows_links_inside_the_tree() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: recurse
      file:
        path: "{{ playbook_dir }}/tree"
        state: directory
        recurse: yes
        mode: "0700"
"#,
    );
    p.write("tree/inside.txt", "x\n");
    p.write("outside.txt", "x\n");
    p.write("outdir/deep.txt", "x\n");
    set_mode(&p.path("tree/inside.txt"), 0o644);
    set_mode(&p.path("outside.txt"), 0o644);
    set_mode(&p.path("outdir/deep.txt"), 0o644);
    set_mode(&p.path("outdir"), 0o755);
    symlink("../outside.txt", p.path("tree/to-file")).expect("symlink");
    symlink("../outdir", p.path("tree/to-dir")).expect("symlink");

    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(mode_of(&p.path("tree/inside.txt")), 0o700);
    assert_eq!(mode_of(&p.path("outside.txt")), 0o644, "link target kept");
    assert_eq!(mode_of(&p.path("outdir")), 0o755, "linked directory kept");
    assert_eq!(mode_of(&p.path("outdir/deep.txt")), 0o644, "not descended");
}

/// As ansible-core 2.19 does (checked: the target became daemon:daemon 0644, the link stayed
/// root's): with `follow` (the default) a link's owner, group and mode are set on its target;
/// with `follow: no` the owner and group are set on the link itself (`chown -h`).
#[test]
fn file_link_sets_attributes_on_the_target_unless_follow_is_off() {
    use std::os::unix::fs::MetadataExt as _;
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: link followed
      file:
        path: "{{ playbook_dir }}/owned"
        src: real.txt
        state: link
        owner: "1"
        group: "1"
        mode: "0640"
    - name: link itself
      file:
        path: "{{ playbook_dir }}/owned2"
        src: real.txt
        state: link
        owner: "2"
        group: "2"
        follow: no
"#,
    );
    layout(&p);
    let target_uid = std::fs::metadata(p.path("real.txt")).expect("stat").uid();
    if target_uid != 0 {
        eprintln!("not root: chown cannot be tested");
        return;
    }
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    let target = std::fs::metadata(p.path("real.txt")).expect("stat");
    assert_eq!(
        (target.uid(), target.gid()),
        (1, 1),
        "the target is chowned"
    );
    assert_eq!(mode_of(&p.path("real.txt")), 0o640, "and gets the mode");
    let link = std::fs::symlink_metadata(p.path("owned")).expect("lstat");
    assert_eq!((link.uid(), link.gid()), (0, 0), "the followed link is not");
    let link2 = std::fs::symlink_metadata(p.path("owned2")).expect("lstat");
    assert_eq!(
        (link2.uid(), link2.gid()),
        (2, 2),
        "follow: no chowns the link (-h)"
    );
}

// ---------------------------------------------------------------------------------------------
// stat, wait_for

#[test]
fn stat_reports_the_link_or_its_target_depending_on_follow() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: link
      stat:
        path: "{{ playbook_dir }}/link.txt"
    - name: link follow
      stat:
        path: "{{ playbook_dir }}/link.txt"
        follow: yes
    - name: dangling
      stat:
        path: "{{ playbook_dir }}/dangling.txt"
    - name: dangling follow
      stat:
        path: "{{ playbook_dir }}/dangling.txt"
        follow: yes
    - name: linked parent
      stat:
        path: "{{ playbook_dir }}/linkdir/in.txt"
    - name: wait link
      wait_for:
        path: "{{ playbook_dir }}/link.txt"
        timeout: 1
    - name: wait dangling
      wait_for:
        path: "{{ playbook_dir }}/dangling.txt"
        state: absent
        timeout: 1
"#,
    );
    layout(&p);
    let root = canonical_root(&p);
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    let st = |t: &str| o.result("h1", t)["result"]["stat"].clone();

    let s = st("link");
    assert_eq!(
        (s["exists"].clone(), s["islnk"].clone()),
        (true.into(), true.into())
    );
    assert_eq!(s["isreg"], false);
    assert_eq!(s["lnk_target"], "real.txt");
    assert_eq!(s["lnk_source"], Value::from(format!("{root}/real.txt")));
    assert!(s.get("checksum").is_none(), "no checksum of a link: {s}");

    let s = st("link follow");
    assert_eq!(
        (s["islnk"].clone(), s["isreg"].clone()),
        (false.into(), true.into())
    );
    assert_eq!(s["checksum"], SHA1_OLD);
    assert!(s.get("lnk_target").is_none());

    let s = st("dangling");
    assert_eq!(
        (s["exists"].clone(), s["islnk"].clone()),
        (true.into(), true.into())
    );
    assert_eq!(s["lnk_target"], "missing.txt");
    assert_eq!(st("dangling follow")["exists"], false);

    let s = st("linked parent");
    assert_eq!(
        (s["exists"].clone(), s["isreg"].clone()),
        (true.into(), true.into())
    );
    assert_eq!(
        o.status("h1", "wait link"),
        "ok",
        "a link to a file counts as present"
    );
    assert_eq!(
        o.status("h1", "wait dangling"),
        "ok",
        "a dangling link counts as absent"
    );
}

// ---------------------------------------------------------------------------------------------
// sysctl (persisted file only: `reload: no` never touches the kernel)

#[test]
fn sysctl_writes_through_a_symlinked_sysctl_file_and_keeps_the_link() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: over link
      sysctl:
        name: kernel.ostype
        value: Linux
        sysctl_file: "{{ playbook_dir }}/link.conf"
        reload: no
    - name: over dangling
      sysctl:
        name: kernel.ostype
        value: Linux
        sysctl_file: "{{ playbook_dir }}/dangling.conf"
        reload: no
"#,
    );
    p.write("real.conf", "# shared\nvm.swappiness=10\n");
    symlink("real.conf", p.path("link.conf")).expect("symlink");
    symlink("missing.conf", p.path("dangling.conf")).expect("symlink");
    let root = canonical_root(&p);

    let check = p.run("play.yml", &["--check"]);
    check.expect_code(0);
    assert_eq!(check.status("h1", "over link"), "changed");
    assert_eq!(check.status("h1", "over dangling"), "changed");
    assert_eq!(
        summary(&check, "over link"),
        vec![format!("persist kernel.ostype=Linux in {root}/real.conf")],
        "check mode names the link's target"
    );
    assert_eq!(
        summary(&check, "over dangling"),
        vec![format!(
            "persist kernel.ostype=Linux in {root}/missing.conf"
        )]
    );
    assert!(is_link(&p.path("link.conf")));
    assert_eq!(read(&p.path("real.conf")), "# shared\nvm.swappiness=10\n");
    assert!(!p.path("missing.conf").exists());

    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.status("h1", "over link"), "changed");
    assert_eq!(o.status("h1", "over dangling"), "changed");
    assert!(is_link(&p.path("link.conf")), "the link stays");
    assert_eq!(
        read(&p.path("real.conf")),
        "# shared\nvm.swappiness=10\nkernel.ostype=Linux\n",
        "the target gets the edit"
    );
    assert!(is_link(&p.path("dangling.conf")), "the dangling link stays");
    assert_eq!(
        read(&p.path("missing.conf")),
        "kernel.ostype=Linux\n",
        "a dangling link's target is created"
    );
    assert_eq!(
        std::fs::read_dir(p.root())
            .expect("read_dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with(".prov-tmp"))
            .count(),
        0,
        "no temporary file left"
    );

    let again = p.run("play.yml", &[]);
    again.expect_code(0);
    assert_eq!(again.count("h1", "changed"), 0, "{}", again.dump());
}
