//! `uri`: an HTTP(S) request made by the host, with Ansible's arguments and result.
//!
//! ```yaml
//! uri: { url: "http://10.0.0.5:8080/api", method: POST, body: { a: 1 }, body_format: json,
//!        status_code: [200, 201], return_content: yes }
//! ```
//!
//! The host makes the request with Python 3's urllib (`scripts/uri.py`), as Ansible's module
//! does (Ansible's uri is Python on the host too): the request, credentials included, goes to
//! it as JSON on stdin, never in a process argument; the answer is one JSON object. Result:
//! `status`, `url`, `redirected`, `msg`, `elapsed`, `cookies`, `cookies_string`, every response
//! header (lowercase, `-` as `_`), `json` when the response is JSON, `content` with
//! `return_content`, `path` with `dest`. Like Ansible's: reported `ok` (changed only when
//! `dest` is written), not run in check mode (the module does not support it: skipped, any
//! method), `creates`/`removes` checked on the host first. Not supported (refused):
//! `body_format: form-multipart`, `src`, `remote_src`, `unix_socket`, `ca_path`, `ciphers`,
//! `use_proxy`, `client_cert`/`client_key`, `use_gssapi`, `unredirected_headers`, file
//! attributes (`mode`, `owner`...).

use async_trait::async_trait;
use crate::cmdexec::{Skip, literal_skip};
use prov_core::{
    Action, CheckMode, Module, ModuleContext, ModuleError, Outcome, Plan, Script, Stdin, sh,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::args::{de_bool, de_opt_int, yes};

/// The module's name and builder, for the registry.
pub const SPEC: crate::ModuleSpec = crate::ModuleSpec::new("uri", build);

const URI_PY: &str = include_str!("scripts/uri.py");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    url: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    body_format: Option<String>,
    #[serde(default)]
    headers: Option<Map<String, Value>>,
    #[serde(default)]
    status_code: Option<Value>,
    #[serde(default, deserialize_with = "de_bool")]
    return_content: bool,
    #[serde(default)]
    dest: Option<String>,
    #[serde(default)]
    creates: Option<String>,
    #[serde(default)]
    removes: Option<String>,
    #[serde(default, deserialize_with = "de_opt_int")]
    timeout: Option<u64>,
    #[serde(default = "yes", deserialize_with = "de_bool")]
    validate_certs: bool,
    #[serde(default)]
    follow_redirects: Option<String>,
    #[serde(default, deserialize_with = "de_bool")]
    force_basic_auth: bool,
    #[serde(default, alias = "user")]
    url_username: Option<String>,
    #[serde(default, alias = "password")]
    url_password: Option<String>,
}

/// A built `uri` task.
#[derive(Debug)]
struct Uri {
    /// The request for `uri.py` (secrets included: only ever sent on stdin).
    request: Value,
    status_code: Vec<i64>,
    return_content: bool,
    creates: Option<String>,
    removes: Option<String>,
    summary: String,
    has_dest: bool,
}

/// Builds the module from its arguments.
pub fn build(args: Value) -> Result<Box<dyn Module>, ModuleError> {
    Ok(Box::new(parse(args)?))
}

fn parse(args: Value) -> Result<Uri, ModuleError> {
    let a: Args = crate::parse_args(args)?;
    if !(a.url.starts_with("http://") || a.url.starts_with("https://")) {
        return Err(ModuleError::arg("url", "must be an http:// or https:// URL"));
    }
    let method = a.method.as_deref().unwrap_or("GET").to_ascii_uppercase();
    if method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(ModuleError::arg(
            "method",
            "needs to be a single word in uppercase, like GET or POST",
        ));
    }
    let body_format = a.body_format.as_deref().unwrap_or("raw").to_ascii_lowercase();
    match (body_format.as_str(), &a.body) {
        ("json" | "form-urlencoded", _) | ("raw", None | Some(Value::String(_))) => {}
        ("raw", Some(_)) => {
            return Err(ModuleError::arg(
                "body",
                "must be a string with body_format raw (use body_format: json)",
            ));
        }
        ("form-multipart", _) => {
            return Err(ModuleError::arg("body_format", "form-multipart is not supported"));
        }
        (other, _) => {
            return Err(ModuleError::arg(
                "body_format",
                format!("`{other}`: expected json, form-urlencoded or raw"),
            ));
        }
    }
    let status_code = match a.status_code {
        None => vec![200],
        Some(v) => status_codes(&v)
            .ok_or_else(|| ModuleError::arg("status_code", "expected a list of integers"))?,
    };
    let follow = a.follow_redirects.as_deref().unwrap_or("safe");
    if !["all", "no", "none", "safe", "urllib2", "yes"].contains(&follow) {
        return Err(ModuleError::arg(
            "follow_redirects",
            format!("`{follow}`: expected one of all, no, none, safe, urllib2, yes"),
        ));
    }
    for (name, v) in [("dest", &a.dest), ("creates", &a.creates), ("removes", &a.removes)] {
        crate::cmdexec::check_arg("uri", name, v)?;
    }
    let headers: Map<String, Value> = a
        .headers
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k, json!(s)),
            other => (k, json!(other.to_string())),
        })
        .collect();
    let summary = format!("{method} {}", mask_url(&a.url));
    let request = json!({
        "url": a.url, "method": method, "headers": headers, "body": a.body,
        "body_format": body_format, "follow_redirects": follow,
        "validate_certs": a.validate_certs, "timeout": a.timeout.unwrap_or(30),
        "url_username": a.url_username, "url_password": a.url_password,
        "force_basic_auth": a.force_basic_auth, "dest": a.dest, "status_code": status_code,
    });
    Ok(Uri {
        request,
        status_code,
        return_content: a.return_content,
        creates: a.creates,
        removes: a.removes,
        summary,
        has_dest: a.dest.is_some(),
    })
}

/// `status_code` as Ansible reads a list of integers: `302`, `"200,201"`, `[200, "201"]`.
fn status_codes(v: &Value) -> Option<Vec<i64>> {
    let one = |v: &Value| match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    match v {
        Value::Array(items) => items.iter().map(one).collect(),
        Value::String(s) => s.split(',').map(|p| p.trim().parse().ok()).collect(),
        other => one(other).map(|c| vec![c]),
    }
}

/// The URL without a password in its user info (`http://u:********@h/`).
fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:********@{host}{}", &rest[host_end..])
        }
        None => url.to_owned(),
    }
}

/// The remote command: Python 3's urllib reading the request from stdin.
fn uri_script() -> Script {
    sh!(
        "command -v python3 >/dev/null 2>&1 || {{ echo {} >&2; exit 127; }}\nexec python3 -c {}\n",
        "uri: python3 is required on the host to make the request",
        URI_PY
    )
}

impl Uri {
    /// Ansible's stdout when `creates`/`removes` say the request must not be made.
    async fn skip_reason(&self, ctx: &ModuleContext<'_>) -> Result<Option<String>, ModuleError> {
        Ok(
            match literal_skip(ctx, &self.creates, &self.removes).await? {
                Some(Skip::Creates(c)) => Some(format!("skipped, since '{c}' exists")),
                Some(Skip::Removes(r)) => Some(format!("skipped, since '{r}' does not exist")),
                None => None,
            },
        )
    }
}

/// Makes the request and turns `uri.py`'s answer into Ansible's result.
struct Request {
    input: Vec<u8>,
    status_code: Vec<i64>,
    return_content: bool,
}

/// Ansible's result from `uri.py`'s answer: the fields as given (`content` only when asked
/// for), a failure when the status is not an expected one. A malformed answer is an error.
fn response_result(
    out_status: i32,
    stdout: &str,
    stderr: &str,
    status_code: &[i64],
    return_content: bool,
) -> Result<Map<String, Value>, ModuleError> {
    let malformed = |what: &str| {
        ModuleError::failed(format!(
            "reading the uri response failed: {what} (exit {out_status}): {}",
            stderr.trim()
        ))
    };
    let mut r: Map<String, Value> = match serde_json::from_str(stdout.trim()) {
        Ok(Value::Object(m)) => m,
        _ => return Err(malformed("no JSON object")),
    };
    let status = r
        .get("status")
        .and_then(Value::as_i64)
        .ok_or_else(|| malformed("no integer `status`"))?;
    if !r.get("msg").is_some_and(Value::is_string) || !r.get("url").is_some_and(Value::is_string)
    {
        return Err(malformed("no `msg`/`url`"));
    }
    if !return_content {
        r.remove("content");
    }
    if !status_code.contains(&status) {
        let codes: Vec<String> = status_code.iter().map(i64::to_string).collect();
        let msg = format!(
            "Status code was {status} and not [{}]: {}",
            codes.join(", "),
            r["msg"].as_str().unwrap_or("")
        );
        r.insert("msg".into(), json!(msg.clone()));
        return Err(ModuleError::failed_with(msg, r));
    }
    Ok(r)
}

#[async_trait]
impl Action for Request {
    async fn apply(self: Box<Self>, ctx: &ModuleContext<'_>) -> Result<Outcome, ModuleError> {
        let out = ctx
            .conn
            .exec(&ctx.command(&uri_script()), Stdin::Bytes(&self.input))
            .await?;
        let result = response_result(
            out.status,
            &out.stdout_text(),
            &out.stderr_text(),
            &self.status_code,
            self.return_content,
        )?;
        Ok(Outcome { result })
    }
}

#[async_trait]
impl Module for Uri {
    async fn plan(&self, ctx: &ModuleContext<'_>) -> Result<Plan, ModuleError> {
        if let Some(stdout) = self.skip_reason(ctx).await? {
            return Ok(Plan::unchanged().with_result("stdout", json!(stdout)));
        }
        let action = Request {
            input: serde_json::to_vec(&self.request).map_err(|e| ModuleError::failed(e.to_string()))?,
            status_code: self.status_code.clone(),
            return_content: self.return_content,
        };
        Ok(if self.has_dest {
            Plan::change(format!("{} -> {}", self.summary, self.request["dest"]), action)
        } else {
            Plan::refresh(self.summary.clone(), action)
        })
    }

    /// Ansible's uri does not support check mode: the task is skipped, whatever the method.
    fn check_mode(&self) -> CheckMode {
        CheckMode::Unpredictable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_util::testing::refused_field;

    #[test]
    fn arguments_as_ansible_names_them() {
        let u = parse(json!({"url": "http://h/x", "method": "post", "body": {"a": 1},
            "body_format": "json", "status_code": "200, 201", "user": "u", "password": "s3cret"}))
        .unwrap();
        assert_eq!(u.request["method"], json!("POST"));
        assert_eq!(u.status_code, [200, 201]);
        assert_eq!(u.request["url_password"], json!("s3cret"));
        assert_eq!(u.summary, "POST http://h/x");
        let field = |v: Value| refused_field(parse(v));
        assert_eq!(field(json!({"url": "http://h", "src": "/x"})).as_deref(), Some("src"));
        assert_eq!(field(json!({"url": "http://h", "method": "GET X"})).as_deref(), Some("method"));
        assert_eq!(
            field(json!({"url": "http://h", "body_format": "form-multipart"})).as_deref(),
            Some("body_format")
        );
        assert_eq!(field(json!({"url": "http://h", "body": {"a": 1}})).as_deref(), Some("body"));
        assert_eq!(field(json!({"url": "ftp://h"})).as_deref(), Some("url"));
        assert_eq!(
            field(json!({"url": "http://h", "follow_redirects": "maybe"})).as_deref(),
            Some("follow_redirects")
        );
    }

    #[test]
    fn secrets_stay_out_of_the_command_and_summary() {
        let u = parse(json!({"url": "http://bob:pw1@h/x", "url_password": "s3cret"})).unwrap();
        assert_eq!(u.summary, "GET http://bob:********@h/x");
        assert!(!uri_script().as_str().contains("s3cret"));
        assert!(uri_script().as_str().starts_with("command -v python3"));
    }

    #[test]
    fn responses_become_ansibles_result() {
        let ok = r#"{"status": 200, "url": "http://h/", "msg": "OK (2 bytes)", "content": "{}", "json": {}}"#;
        let r = response_result(0, ok, "", &[200], false).unwrap();
        assert!(!r.contains_key("content"));
        assert_eq!(r["json"], json!({}));
        assert!(response_result(0, ok, "", &[200], true).unwrap().contains_key("content"));
        let Err(ModuleError::Failed(f)) = response_result(0, ok, "", &[201, 204], false) else {
            panic!("status not expected")
        };
        assert_eq!(f.message, "Status code was 200 and not [201, 204]: OK (2 bytes)");
        assert_eq!(f.result["status"], json!(200));
        assert_eq!(status_codes(&json!(302)), Some(vec![302]));
        assert_eq!(status_codes(&json!([200, "201"])), Some(vec![200, 201]));
        assert_eq!(status_codes(&json!("x")), None);
        assert!(response_result(1, "Traceback", "boom", &[200], false).is_err());
        assert!(response_result(0, r#"{"status": "200"}"#, "", &[200], false).is_err());
    }
}
