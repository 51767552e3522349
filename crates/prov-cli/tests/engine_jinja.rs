//! Template files written for Ansible (`*.j2` and every file that is not `*.tera`) render as
//! Ansible renders them: Jinja2 syntax with positional filter arguments and Python's methods,
//! block tags that take their newline, values printed as Python prints them, mappings in the
//! order they were written, a strict undefined policy. `*.tera` files stay prov's tera.
//! (`prov-engine/tests/ansible_templates.rs` compares the public roles' templates with the
//! real ansible-core.)

mod engine_support;

use engine_support::Project;

#[test]
fn jinja2_templates_render_with_ansible_semantics() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: render
      vars:
        d: {zeta: 1, alpha: 2, mid: 3}
        flags: [true, false]
        names: "a,b"
        version: "3.7"
      template:
        src: t.j2
        dest: "{{ playbook_dir }}/out.conf"
"#,
    );
    p.write(
        "templates/t.j2",
        "# {{ ansible_managed }}\nstart\n{% if true %}\nweb\n{% endif %}\n\
         {% for k, v in d.items() %}{{ k }}={{ v }} {% endfor %}\n\
         {{ flags }} {{ names.split(',') }} {{ version | int }} {{ missing | default('x') }}\n\
         {{ 'a' + 'b' }} {{ [1] + [2] }}\nend\n",
    );
    p.run("play.yml", &[]).expect_code(0);
    let out = std::fs::read_to_string(p.path("out.conf")).unwrap_or_default();
    assert_eq!(
        out,
        // trim_blocks: the newline after `{% endfor %}` goes with the tag.
        "# Ansible managed\nstart\nweb\nzeta=1 alpha=2 mid=3 \
         [True, False] ['a', 'b'] 3 x\nab [1, 2]\nend\n"
    );
}

#[test]
fn an_undefined_name_in_a_jinja2_template_fails_the_task_and_writes_nothing() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: render
      template:
        src: t.j2
        dest: "{{ playbook_dir }}/out.conf"
"#,
    );
    p.write(
        "templates/t.j2",
        "ok\n{% if not featur_typo %}\nrisky\n{% endif %}\n",
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(2);
    let msg = o.msg("h1", "render");
    assert!(
        msg.contains("t.j2:2:") && msg.contains("`featur_typo` is not defined"),
        "{msg}"
    );
    assert!(!p.path("out.conf").exists());
}

#[test]
fn tera_files_stay_tera() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: render
      template:
        src: t.conf.tera
        dest: "{{ playbook_dir }}/out.conf"
"#,
    );
    p.write(
        "templates/t.conf.tera",
        "port {{ port | default(value=7000) }}\n",
    );
    p.run("play.yml", &[]).expect_code(0);
    let out = std::fs::read_to_string(p.path("out.conf")).unwrap_or_default();
    assert_eq!(out, "port 7000\n");
}

/// `lookup('template', ...)` renders a file of `templates/` as the template module does, with
/// the task's variables and `template_vars` on top (expected values recorded from
/// ansible-core 2.19 with the same play).
#[test]
fn the_template_lookup_renders_like_ansible() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: plain
      vars:
        who: world
        items: [a, b]
      debug:
        msg: "{{ lookup('template', 't.j2') }}"
    - name: with template_vars
      vars:
        who: world
        items: [a, b]
      debug:
        msg: "{{ lookup('template', 't.j2', template_vars={'extra_v': 42}) }}"
    - name: undefined inside
      debug:
        msg: "{{ lookup('template', 't.j2') }}"
"#,
    );
    p.write(
        "templates/t.j2",
        "name={{ who }}\n{% for i in items %}\n- {{ i }}\n{% endfor %}\nextra={{ extra_v | default(\"none\") }}\n",
    );
    let o = p.run("play.yml", &[]);
    assert_eq!(o.msg("h1", "plain"), "name=world\n- a\n- b\nextra=none\n");
    assert_eq!(
        o.msg("h1", "with template_vars"),
        "name=world\n- a\n- b\nextra=42\n"
    );
    assert_eq!(o.status("h1", "undefined inside"), "failed", "{}", o.dump());
}

/// `lookup('varnames', ...)` lists the variables a regular expression finds; the hardening
/// roles set a default only when `not lookup('varnames', '^' + item.key + '$')`.
#[test]
fn varnames_lookup_finds_variables_by_pattern() {
    let p = Project::new(&["h1"]);
    p.write(
        "play.yml",
        r#"- hosts: all
  gather_facts: no
  vars:
    os_a: set by the user
    os_b: 2
    other: 3
    defaults: {os_a: default a, os_c: default c}
  tasks:
    - name: found
      debug:
        msg: "{{ query('varnames', '^os_[ab]$') | sort }} {{ lookup('varnames', '^oth', '^nope') }}"
    - name: defaults where not set
      set_fact:
        "{{ item.key }}": "{{ item.value }}"
      when: not lookup('varnames', '^' + item.key + '$')
      with_dict: "{{ defaults }}"
    - name: after
      debug:
        msg: "{{ os_a }} / {{ os_c }}"
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.msg("h1", "found"), "['os_a', 'os_b'] other");
    assert_eq!(o.msg("h1", "after"), "set by the user / default c");
}

/// `set_fact` renders templated names and refuses a name that is not a variable name, as
/// Ansible's action does.
#[test]
fn set_fact_names_are_rendered_and_checked() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: bad
      set_fact:
        "{{ 'a-' ~ 'b' }}": 1
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(2);
    assert!(
        o.msg("h1", "bad")
            .contains("the variable name 'a-b' is not valid"),
        "{}",
        o.dump()
    );
}

/// A YAML value whose template emits exactly one value and no text keeps the value's type, and
/// one that emits nothing is null, as in ansible-core 2.19 (checked there: list, int, str, str,
/// NoneType); two values, or text around one, make text.
#[test]
fn one_emitted_value_keeps_its_type() {
    let p = Project::with_tasks(
        &["h1"],
        r#"
    - name: facts
      vars: {a: [1, 2], flag: true}
      set_fact:
        x: "{% if flag %}{{ a }}{% else %}{{ [] }}{% endif %}"
        y: "{% if flag %}{{ 8080 }}{% endif %}"
        z: "port {{ 80 }}"
        w: "{{ 1 }}{{ 2 }}"
        v: "{% if not flag %}x{% endif %}"
    - name: types
      debug:
        msg: "{{ x | type_debug }} {{ y | type_debug }} {{ z | type_debug }} {{ w | type_debug }} {{ v | type_debug }}"
    - name: loop
      debug: msg="{{ item }}"
      loop: "{{ x }}"
"#,
    );
    let o = p.run("play.yml", &[]);
    o.expect_code(0);
    assert_eq!(o.msg("h1", "types"), "list int str str NoneType");
    assert_eq!(o.msgs("h1", "loop"), ["1", "2"]);
}
