//! One property per parser of outside data. Each function runs the production parser on one
//! input and returns a [`Verdict`]; see the [crate documentation](crate) for the rules.

use std::path::{Component, Path};

use ctrmgr_core::LabelOp;
use ctrmgr_core::codec::Fields;
use ctrmgr_core::retry::error_line;
use ctrmgr_dbclient::DbConfig;
use ctrmgr_driver::Tunables;

use crate::{Verdict, check_message, injectable};

#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "../../bins/container-cmd/src/selfid.rs"]
mod selfid;

#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "../../bins/kube-labeler/src/set_table.rs"]
mod set_table;

/// The name a `database_config.json` is known by in messages.
pub const DB_CONFIG_ORIGIN: &str = "/var/run/redis/sonic-db/database_config.json";
/// The tunables file's path in messages.
pub const TUNABLES_PATH: &str = "/etc/sonic/ctrmgr.json";

/// An error as the binaries print it ([`error_line`]): one clear line naming `names`; and as
/// a log line may show it (`%e`, without its causes): no line break.
fn check_error(v: &mut Verdict, what: &str, e: &(dyn std::error::Error + 'static), names: &str) {
    v.rejected = true;
    check_message(v, what, &error_line(e), Some(names));
    let top = e.to_string();
    if top.contains(['\n', '\r']) {
        v.violation(format!(
            "{what} (without its causes) is not one line: {top:?}"
        ));
    }
}

/// `database_config.json` (dbclient): the file, then CONFIG_DB and STATE_DB resolved from it.
/// A resolved DB has a DB number, a non-empty separator and an address (a socket or a host
/// with a port 1-65535) without line breaks.
pub fn db_config(text: &str) -> Verdict {
    let mut v = Verdict::default();
    let cfg = match DbConfig::from_json(text, DB_CONFIG_ORIGIN) {
        Ok(c) => c,
        Err(e) => {
            check_error(&mut v, "database config error", &e, DB_CONFIG_ORIGIN);
            return v;
        }
    };
    for name in ["CONFIG_DB", "STATE_DB"] {
        match cfg.db(name) {
            Ok(loc) => {
                if loc.separator.is_empty() {
                    v.violation(format!("{name}: an empty separator accepted"));
                }
                if loc.address.unix_socket.is_none() && loc.address.tcp.is_none() {
                    v.violation(format!("{name}: no address accepted"));
                }
                if loc.address.tcp.as_ref().is_some_and(|(_, p)| *p == 0) {
                    v.violation(format!("{name}: port 0 accepted"));
                }
            }
            Err(e) => check_error(&mut v, "database config error", &e, DB_CONFIG_ORIGIN),
        }
    }
    v
}

/// The keys of `ctrmgr.json`.
pub fn tunable_keys() -> Vec<String> {
    match serde_json::to_value(Tunables::default()) {
        Ok(serde_json::Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// `/etc/sonic/ctrmgr.json` (the tunables): accepted tunables keep their documented ranges
/// (bounds of at least a second, an https admin.conf URL with `{ip}`, a kubelet unit).
pub fn tunables(text: &str) -> Verdict {
    let mut v = Verdict::default();
    let path = Path::new(TUNABLES_PATH);
    let _ = ctrmgr_driver::config::unknown_keys(text);
    match Tunables::parse(path, text) {
        Ok(t) => {
            for (key, secs) in [
                ("label_timeout_secs", t.label_timeout_secs),
                ("api_timeout_secs", t.api_timeout_secs),
                ("probe_interval_secs", t.probe_interval_secs),
                ("kubeadm_timeout_secs", t.kubeadm_timeout_secs),
                (
                    "failure_detection_minute_secs",
                    t.failure_detection_minute_secs,
                ),
                ("join_retry_max_secs", t.join_retry_max_secs),
            ] {
                if secs == 0 {
                    v.violation(format!("{key}=0 accepted"));
                }
            }
            if !t.admin_conf_url.starts_with("https://") || !t.admin_conf_url.contains("{ip}") {
                v.violation(format!("admin_conf_url {:?} accepted", t.admin_conf_url));
            }
            if t.kubelet_unit.trim().is_empty() || t.approval_parallelism == 0 {
                v.violation("an empty kubelet_unit or no approval parallelism accepted");
            }
        }
        Err(e) => check_error(&mut v, "tunables error", &e, TUNABLES_PATH),
    }
    v
}

/// The values a kubeconfig holds that are secrets (a bearer token, a password, client key
/// material): every scalar after one of those keys, 8 characters or more.
fn secrets(text: &str) -> Vec<String> {
    const KEYS: [&str; 5] = [
        "token:",
        "password:",
        "client-key-data:",
        "client-certificate-data:",
        "- ",
    ];
    let mut out = Vec::new();
    let mut in_secret = false;
    for line in text.lines() {
        let t = line.trim();
        let found = KEYS[..4].iter().find_map(|k| t.strip_prefix(k));
        let value = match found {
            Some(rest) => {
                in_secret = true;
                Some(rest)
            }
            // A secret written as a list or block below its key.
            None if in_secret && t.starts_with(KEYS[4]) => t.strip_prefix(KEYS[4]),
            None => {
                in_secret = false;
                None
            }
        };
        if let Some(s) = value {
            let s = s.trim().trim_matches('"').trim_matches('\'');
            if s.len() >= 8 {
                out.push(s.to_owned());
            }
        }
    }
    out
}

/// A kubeconfig (`admin.conf` fetched by a join, the kubeconfig every API call loads): the
/// API server's host it names has no white space, control character or `/`; a rejection never
/// repeats the token, password or key material of the text.
pub fn kubeconfig(text: &str) -> Verdict {
    let mut v = Verdict::default();
    match ctrmgr_kubeclient::kubeconfig_server_host(text) {
        Ok(host) => {
            if host.is_empty()
                || host
                    .chars()
                    .any(|c| c.is_control() || c.is_whitespace() || c == '/')
            {
                v.violation(format!("server host {host:?} accepted"));
            }
        }
        Err(e) => {
            check_error(&mut v, "kubeconfig error", &e, "kubeconfig");
            let line = error_line(&e);
            for s in secrets(text) {
                if line.contains(&s) {
                    v.violation(format!("the error repeats the secret {s:?}: {line:?}"));
                }
            }
        }
    }
    // What every API call does with the file: kube-rs's own reader.
    if let Err(e) = kube::config::Kubeconfig::from_yaml(text) {
        let line = ctrmgr_kubeclient::kubeconfig_reason(&e);
        check_message(&mut v, "kube-rs kubeconfig error", &line, None);
        for s in secrets(text) {
            if line.contains(&s) {
                v.violation(format!(
                    "kube-rs's kubeconfig error repeats the secret {s:?}: {line:?}"
                ));
            }
        }
    }
    v
}

/// The keys of a `service install` spec.
pub const SPEC_KEYS: &[&str] = &[
    "name",
    "description",
    "requires",
    "required_by",
    "local_image",
    "docker_create_args",
    "pre_start",
    "post_start",
    "pre_stop",
    "post_stop",
    "warm_reboot",
    "fast_reboot",
    "set_owner",
    "fallback",
    "user",
    "stop_timeout",
    "multi_instance",
    "instances",
];

/// Where `service install` may write, below its root.
const SERVICE_DIRS: &[&str] = &[
    "etc/systemd/system/",
    "usr/local/bin/",
    "etc/sonic/ctrmgr/reboot.d/warm/",
    "etc/sonic/ctrmgr/reboot.d/fast/",
    "var/lib/ctrmgr/services/",
];

/// A `sonic-kube service install` spec: every path an accepted spec makes install write is a
/// plain relative path (no `..`, no root, no injection character) in one of the fixed
/// directories.
pub fn service_spec(text: &str) -> Verdict {
    let mut v = Verdict::default();
    match sonic_kube::service_spec_paths(text) {
        Ok(paths) => {
            for p in paths {
                let plain = Path::new(&p)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_)));
                let fixed = SERVICE_DIRS.iter().any(|d| p.starts_with(d));
                if !plain || !fixed || injectable(&p) {
                    v.violation(format!("install would write {p:?}"));
                }
            }
        }
        Err(e) => {
            v.rejected = true;
            check_message(&mut v, "spec error", &error_line(e.as_ref()), Some("spec"));
        }
    }
    v
}

/// An id `container state` found must be a full, lower-case 64-hex id that the text holds.
fn check_found_id(v: &mut Verdict, what: &str, text: &str, id: Option<ctrmgr_core::ContainerId>) {
    match id {
        Some(id) => {
            let s = id.as_str();
            let hex = s.len() == 64
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if !hex || !text.contains(s) {
                v.violation(format!("{what}: id {s:?} accepted"));
            }
        }
        None => v.rejected = true,
    }
}

/// `/proc/self/mountinfo` (container self-identification).
pub fn mountinfo(text: &str) -> Verdict {
    let mut v = Verdict::default();
    check_found_id(&mut v, "mountinfo", text, selfid::id_from_mountinfo(text));
    v
}

/// `/proc/self/cgroup` (container self-identification).
pub fn cgroup(text: &str) -> Verdict {
    let mut v = Verdict::default();
    check_found_id(&mut v, "cgroup", text, selfid::id_from_cgroup(text));
    v
}

/// A `KUBE_LABELS|SET` row (kube-labeler, from sonic-utilities or a hand edit) and the same
/// keys and values as `label add KEY VALUE` / `label drop KEY` arguments: an accepted label
/// key or value carries no injection; every skipped field and every refusal is one line.
pub fn labels(row: &[(String, String)]) -> Verdict {
    let mut v = Verdict::default();
    let fields: Fields = row.iter().cloned().collect();
    let (ops, skipped) = set_table::set_row_ops(&fields, |k| k.ends_with("_enabled"));
    for op in &ops {
        check_op(&mut v, op);
    }
    for (_, why) in &skipped {
        v.rejected = true;
        check_message(&mut v, "skipped label field", why, None);
    }
    for (key, value) in row {
        match LabelOp::add(key, value) {
            Ok(op) => check_op(&mut v, &op),
            Err(e) => check_error(&mut v, "label add error", &e, "label"),
        }
        match LabelOp::remove(key) {
            Ok(op) => check_op(&mut v, &op),
            Err(e) => check_error(&mut v, "label drop error", &e, "label"),
        }
    }
    v
}

fn check_op(v: &mut Verdict, op: &LabelOp) {
    let key = op.key().as_str();
    if injectable(key) {
        v.violation(format!("label key {key:?} accepted"));
    }
    let shown = op.to_string();
    if injectable(&shown.replace('=', "")) {
        v.violation(format!("label operation {shown:?} accepted"));
    }
}
