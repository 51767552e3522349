//! Controller-side actions: `debug`, `assert`, `set_fact`, `fail`, `meta`, and the includes
//! (`include_tasks`, `include_vars`: see [`super::includes`]). They work on variables and
//! controller files and never touch the host. (`setup`, the engine action that does, is in
//! [`super::setup`].)

use serde_json::{Map, Value, json};
use tera::Context;

use super::task_exec::Exec;
use super::{HostState, PlayCtx, Runner};
use crate::action::EngineAction;
use crate::playbook::{Common, Task};
use crate::yaml::PathSeg;
use prov_core::TaskStatus;

/// A successful result that changed nothing.
pub(super) fn ok(result: Map<String, Value>, msg: Option<String>) -> Exec {
    Exec {
        status: TaskStatus::Ok,
        changed: false,
        summary: Vec::new(),
        diffs: Vec::new(),
        msg,
        result,
        known_after_apply: false,
    }
}

fn string_arg(args: &Value, k: &str) -> Option<String> {
    args.get(k).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

/// Runs an engine action with its rendered `args`.
pub(crate) fn run(
    runner: &Runner,
    pctx: &PlayCtx<'_>,
    task: &Task,
    scope: &Common,
    args: &Value,
    h: &mut HostState,
    ctx: &Context,
) -> Exec {
    let Some(action) = task.action.engine() else {
        return Exec::failed(format!(
            "`{}` is a module, not an engine action",
            task.module()
        ));
    };
    match action {
        EngineAction::IncludeTasks => runner.include_tasks(pctx, task, scope, args, h, ctx),
        EngineAction::IncludeVars => runner.include_vars(pctx, scope, args, h),
        EngineAction::IncludeRole => runner.include_role(pctx, task, scope, args, h, ctx),
        EngineAction::Debug => debug(runner, task, args, ctx),
        EngineAction::SetFact => set_fact(runner, task, args, h, ctx),
        EngineAction::Assert => assert(runner, task, args, ctx),
        EngineAction::Fail => Exec::failed(
            string_arg(args, "msg").unwrap_or_else(|| "Failed as requested from task".into()),
        ),
        EngineAction::Meta => meta(args, h),
        EngineAction::Setup => Exec::failed("`setup` gathers through the host's connection"),
    }
}

/// `debug: var=` (evaluated, "VARIABLE IS NOT DEFINED" as Ansible) or `debug: msg=`.
fn debug(runner: &Runner, task: &Task, args: &Value, ctx: &Context) -> Exec {
    let Some(var) = args.get("var").and_then(|v| v.as_str()) else {
        let msg = match args.get("msg") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => serde_json::to_string_pretty(other).unwrap_or_default(),
            None => "Hello world!".into(),
        };
        return ok(
            Map::from_iter([("msg".into(), json!(msg.clone()))]),
            Some(msg),
        );
    };
    let at = task.arg_location(&[PathSeg::Key("var".into())]);
    let value = runner
        .templar
        .eval(var, ctx, &at)
        .unwrap_or_else(|e| json!(format!("VARIABLE IS NOT DEFINED: {e}")));
    let text = match &value {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    };
    let r = Map::from_iter([(var.to_owned(), value)]);
    ok(r, Some(format!("{var}: {text}")))
}

/// `set_fact`: host variables of the highest precedence (`cacheable` is accepted: prov keeps
/// no fact cache between runs). As in Ansible's action, a name may be templated
/// (`"{{ item.key }}": ...`) and must then be a valid variable name.
fn set_fact(runner: &Runner, task: &Task, args: &Value, h: &mut HostState, ctx: &Context) -> Exec {
    let Value::Object(m) = args else {
        return Exec::failed("set_fact takes a mapping of variables");
    };
    let mut facts = Map::new();
    for (k, v) in m.iter().filter(|(k, _)| *k != "cacheable") {
        let at = task.arg_location(&[PathSeg::Key(k.clone())]);
        let name = match runner.templar.render_value(&json!(k), ctx, &at) {
            Ok(Value::String(name)) => name,
            Ok(other) => other.to_string(),
            Err(e) => return Exec::failed(e.to_string()),
        };
        if !crate::playbook::is_identifier(&name) {
            return Exec::failed(format!(
                "set_fact: the variable name '{name}' is not valid: names start with a letter \
                 or underscore, then letters, digits or underscores"
            ));
        }
        h.registered.insert(name.clone(), v.clone());
        facts.insert(name, v.clone());
    }
    ok(
        Map::from_iter([("ansible_facts".into(), Value::Object(facts))]),
        None,
    )
}

/// `assert: that:` (one condition or a list), `fail_msg`/`msg`, `success_msg`.
fn assert(runner: &Runner, task: &Task, args: &Value, ctx: &Context) -> Exec {
    let as_list = |v: &Value| match v {
        Value::Array(a) => a.clone(),
        v => vec![v.clone()],
    };
    let Some(that) = args.get("that").map(as_list) else {
        return Exec::failed("assert needs `that:`");
    };
    // `that` was rendered already when written as {{ }}; bare expressions are evaluated here.
    let raw_that = task.args.get("that").map_or_else(|| that.clone(), as_list);
    let single = !matches!(task.args.get("that"), Some(Value::Array(_)));
    for (i, (rendered, raw)) in that.iter().zip(raw_that.iter()).enumerate() {
        let mut p = vec![PathSeg::Key("that".into())];
        if !single {
            p.push(PathSeg::Index(i));
        }
        let at = task.arg_location(&p);
        let holds = match rendered {
            Value::String(_) => runner.templar.eval_bool(raw, ctx, &at),
            other => runner.templar.eval_bool(other, ctx, &at),
        };
        match holds {
            Ok(true) => {}
            Ok(false) => return assertion_failed(args, raw),
            Err(err) => return Exec::failed(format!("assert: {err}")),
        }
    }
    let msg = string_arg(args, "success_msg").unwrap_or_else(|| "All assertions passed".into());
    ok(
        Map::from_iter([("msg".into(), json!(msg.clone()))]),
        Some(msg),
    )
}

fn assertion_failed(args: &Value, raw: &Value) -> Exec {
    let msg = string_arg(args, "fail_msg")
        .or_else(|| string_arg(args, "msg"))
        .unwrap_or_else(|| {
            format!(
                "Assertion failed: {}",
                raw.as_str().unwrap_or(&raw.to_string())
            )
        });
    let mut e = Exec::failed(msg);
    e.result.insert("assertion".into(), raw.clone());
    e
}

/// `meta:` actions that act on a host (`flush_handlers` is run by the play loop).
fn meta(args: &Value, h: &mut HostState) -> Exec {
    let action = string_arg(args, "action").unwrap_or_default();
    match action.as_str() {
        "end_host" | "end_play" => {
            h.ended = true;
            ok(Map::new(), Some(format!("{action}: ending for this host")))
        }
        "noop" | "flush_handlers" | "refresh_inventory" => ok(Map::new(), None),
        "clear_facts" => {
            h.facts = Value::Null;
            ok(Map::new(), None)
        }
        other => Exec::failed(format!("unknown meta action `{other}`")),
    }
}
