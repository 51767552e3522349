//! Controller-side actions: `debug`, `assert`, `set_fact`, `fail`, `meta`, and the includes
//! (`include_tasks`, `include_vars`: see [`super::includes`]). They work on variables and
//! controller files and never touch the host. (`setup`, the engine action that does, is in
//! [`super::setup`].)

use serde_json::{Map, Value, json};
use tera::Context;

use super::task_exec::Exec;
use super::{HostState, PlayCtx, Runner};
use crate::playbook::{Common, ENGINE_ACTIONS, Task};
use prov_core::TaskStatus;

/// True for actions the engine runs itself.
pub(crate) fn is_engine_action(module: &str) -> bool {
    ENGINE_ACTIONS.contains(&module)
}

/// True for what runs through the host's connection: modules, and `setup`.
pub(crate) fn needs_connection(module: &str) -> bool {
    module == "setup" || !is_engine_action(module)
}

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
    match task.module.as_str() {
        "include_tasks" => runner.include_tasks(pctx, task, scope, args, h, ctx),
        "include_vars" => runner.include_vars(pctx, scope, args, h),
        "include_role" => runner.include_role(pctx, task, scope, args, h, ctx),
        "debug" => {
            if let Some(var) = args.get("var").and_then(|v| v.as_str()) {
                let value = runner
                    .templar
                    .eval(
                        var,
                        ctx,
                        &task.arg_location(&[crate::yaml::PathSeg::Key("var".into())]),
                    )
                    .unwrap_or_else(|e| json!(format!("VARIABLE IS NOT DEFINED: {e}")));
                let mut r = Map::new();
                r.insert(var.to_owned(), value.clone());
                let text = match &value {
                    Value::String(s) => s.clone(),
                    other => serde_json::to_string_pretty(other).unwrap_or_default(),
                };
                ok(r, Some(format!("{var}: {text}")))
            } else {
                let msg = match args.get("msg") {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => serde_json::to_string_pretty(other).unwrap_or_default(),
                    None => "Hello world!".into(),
                };
                ok(
                    Map::from_iter([("msg".into(), json!(msg.clone()))]),
                    Some(msg),
                )
            }
        }
        "set_fact" => {
            let Value::Object(m) = args else {
                return Exec::failed("set_fact takes a mapping of variables");
            };
            let mut facts = Map::new();
            for (k, v) in m {
                if k == "cacheable" {
                    continue;
                }
                h.registered.insert(k.clone(), v.clone());
                facts.insert(k.clone(), v.clone());
            }
            ok(
                Map::from_iter([("ansible_facts".into(), Value::Object(facts))]),
                None,
            )
        }
        "assert" => {
            let that = match args.get("that") {
                Some(Value::Array(a)) => a.clone(),
                Some(v) => vec![v.clone()],
                None => return Exec::failed("assert needs `that:`"),
            };
            // `that` was rendered already when written as {{ }}; bare expressions are evaluated here.
            let raw_that = match task.args.get("that") {
                Some(Value::Array(a)) => a.clone(),
                Some(v) => vec![v.clone()],
                None => that.clone(),
            };
            let single = !matches!(task.args.get("that"), Some(Value::Array(_)));
            for (i, (rendered, raw)) in that.iter().zip(raw_that.iter()).enumerate() {
                let mut p = vec![crate::yaml::PathSeg::Key("that".into())];
                if !single {
                    p.push(crate::yaml::PathSeg::Index(i));
                }
                let at = task.arg_location(&p);
                let holds = match rendered {
                    Value::String(_) => runner.templar.eval_bool(raw, ctx, &at),
                    other => runner.templar.eval_bool(other, ctx, &at),
                };
                match holds {
                    Ok(true) => {}
                    Ok(false) => {
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
                        return e;
                    }
                    Err(err) => return Exec::failed(format!("assert: {err}")),
                }
            }
            let msg =
                string_arg(args, "success_msg").unwrap_or_else(|| "All assertions passed".into());
            ok(
                Map::from_iter([("msg".into(), json!(msg.clone()))]),
                Some(msg),
            )
        }
        "fail" => Exec::failed(
            string_arg(args, "msg").unwrap_or_else(|| "Failed as requested from task".into()),
        ),
        "meta" => {
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
        other => Exec::failed(format!("unknown action `{other}`")),
    }
}
