//! The DB field codec: every CONFIG_DB and STATE_DB string this project reads or writes, and
//! total decoders from Redis hash fields to the [`crate::types`].
//!
//! Decoding never panics. CONFIG_DB (the operator's) is strict: a value that is not one of the
//! documented spellings is a [`DecodeError`] naming the key, the field and the value. STATE_DB
//! (this project's own) is decoded totally ([`decode_feature_state`]): such a value is read as
//! the nearest known one with a [`DecodeWarning`], and the next write repairs it
//! (docs/decisions.md, rel-1). Absent and empty fields take the documented defaults.

use std::collections::HashMap;

pub mod upstream;

use crate::label::{LabelOp, LabelParseError};
use crate::machine::StateWrite;
use crate::types::{
    ContainerId, CurrentOwner, DeviceMetadata, FeatureConfig, FeatureName, FeatureRecord, Owner,
    ServerConfig, ServerStatus, Timestamp, TransitionMode,
};

/// Redis hash fields as read with `HGETALL`.
pub type Fields = HashMap<String, String>;

// ---- database and table names -------------------------------------------------------------

/// The configuration DB, by its name in `database_config.json`.
pub const CONFIG_DB: &str = "CONFIG_DB";
/// The state DB, by its name in `database_config.json`.
pub const STATE_DB: &str = "STATE_DB";
/// Built-in id of CONFIG_DB, used only when no `database_config.json` exists.
pub const DEFAULT_CONFIG_DB_ID: u32 = 4;
/// Built-in id of STATE_DB, used only when no `database_config.json` exists.
pub const DEFAULT_STATE_DB_ID: u32 = 6;
/// SONiC's key separator for CONFIG_DB and STATE_DB.
pub const DEFAULT_SEPARATOR: &str = "|";

/// `FEATURE` table (CONFIG_DB config, STATE_DB state).
pub const FEATURE_TABLE: &str = "FEATURE";
/// `KUBERNETES_MASTER` table (CONFIG_DB config, STATE_DB status).
pub const KUBERNETES_MASTER_TABLE: &str = "KUBERNETES_MASTER";
/// The one key of `KUBERNETES_MASTER`.
pub const SERVER_KEY: &str = "SERVER";
/// `DEVICE_METADATA` table in CONFIG_DB.
pub const DEVICE_METADATA_TABLE: &str = "DEVICE_METADATA";
/// The one key of `DEVICE_METADATA`.
pub const LOCALHOST_KEY: &str = "localhost";
/// `KUBE_SERVER` table in STATE_DB.
pub const KUBE_SERVER_TABLE: &str = "KUBE_SERVER";
/// The pending-labels key of `KUBE_SERVER`.
pub const PENDING_LABELS_KEY: &str = "PENDING_LABELS";

// ---- fields -------------------------------------------------------------------------------

/// CONFIG_DB `FEATURE|<f>` `set_owner`.
pub const SET_OWNER: &str = "set_owner";
/// CONFIG_DB `FEATURE|<f>` `fallback_to_local`.
pub const FALLBACK_TO_LOCAL: &str = "fallback_to_local";
/// CONFIG_DB `FEATURE|<f>` `kube_failure_detection`.
pub const KUBE_FAILURE_DETECTION: &str = "kube_failure_detection";
/// CONFIG_DB `FEATURE|<f>` `state` (SONiC's enable state; read only).
pub const FEATURE_STATE: &str = "state";

/// STATE_DB `FEATURE|<f>` `current_owner`.
pub const CURRENT_OWNER: &str = "current_owner";
/// STATE_DB `FEATURE|<f>` `current_owner_update_ts`.
pub const CURRENT_OWNER_UPDATE_TS: &str = "current_owner_update_ts";
/// STATE_DB `FEATURE|<f>` `docker_id`.
pub const DOCKER_ID: &str = "docker_id";
/// STATE_DB `FEATURE|<f>` `transition_mode`.
pub const TRANSITION_MODE: &str = "transition_mode";
/// STATE_DB `FEATURE|<f>` `transition_mode_update_ts`.
pub const TRANSITION_MODE_UPDATE_TS: &str = "transition_mode_update_ts";
/// STATE_DB `FEATURE|<f>` `start_requested_ts`: a daemon reset the failed unit to start it
/// (see [`crate::FeatureRecord::start_requested_ts`]); empty or absent when not.
pub const START_REQUESTED_TS: &str = "start_requested_ts";

/// CONFIG_DB `KUBERNETES_MASTER|SERVER` `ip`.
pub const SERVER_IP: &str = "ip";
/// CONFIG_DB `KUBERNETES_MASTER|SERVER` `port`.
pub const SERVER_PORT: &str = "port";
/// CONFIG_DB `KUBERNETES_MASTER|SERVER` `insecure`.
pub const SERVER_INSECURE: &str = "insecure";
/// CONFIG_DB `KUBERNETES_MASTER|SERVER` `disable`.
pub const SERVER_DISABLE: &str = "disable";
/// STATE_DB `KUBERNETES_MASTER|SERVER` `connected`.
pub const SERVER_CONNECTED: &str = "connected";
/// STATE_DB `KUBERNETES_MASTER|SERVER` `last_update_ts`.
pub const SERVER_LAST_UPDATE_TS: &str = "last_update_ts";
/// Default API server port.
pub const DEFAULT_SERVER_PORT: u16 = 6443;

/// CONFIG_DB `DEVICE_METADATA|localhost` `hostname`.
pub const HOSTNAME: &str = "hostname";
/// CONFIG_DB `DEVICE_METADATA|localhost` `platform`.
pub const PLATFORM: &str = "platform";
/// CONFIG_DB `DEVICE_METADATA|localhost` `hwsku`.
pub const HWSKU: &str = "hwsku";
/// CONFIG_DB `DEVICE_METADATA|localhost` `type`.
pub const DEVICE_TYPE: &str = "type";

/// STATE_DB `KUBE_SERVER|PENDING_LABELS` `labels@` (a SONiC list: comma-joined items).
pub const PENDING_LABELS_FIELD: &str = "labels@";
/// The separator between the items of a SONiC list field (a field whose name ends in `@`).
pub const LIST_SEPARATOR: &str = ",";

// ---- values -------------------------------------------------------------------------------

/// Owner spelling `local`.
pub const OWNER_LOCAL: &str = "local";
/// Owner spelling `kube`.
pub const OWNER_KUBE: &str = "kube";
/// Owner spelling `none`.
pub const OWNER_NONE: &str = "none";
/// Mode spelling `none`.
pub const MODE_NONE: &str = "none";
/// Mode spelling `kube_pending`.
pub const MODE_KUBE_PENDING: &str = "kube_pending";
/// Mode spelling `kube_ready`.
pub const MODE_KUBE_READY: &str = "kube_ready";
/// Mode spelling `kube_running`.
pub const MODE_KUBE_RUNNING: &str = "kube_running";
/// Mode spelling `kube_stopped`.
pub const MODE_KUBE_STOPPED: &str = "kube_stopped";
/// Boolean spelling `true` as written by this project.
pub const TRUE: &str = "true";
/// Boolean spelling `false` as written by this project.
pub const FALSE: &str = "false";
/// Suffix of the per-feature node label: `<feature>_enabled=true`.
pub const ENABLED_LABEL_SUFFIX: &str = "_enabled";
/// Value of the per-feature node label.
pub const ENABLED_LABEL_VALUE: &str = "true";

/// The Redis key of a row: `<table><sep><key>`.
pub fn row_key(table: &str, sep: &str, key: &str) -> String {
    format!("{table}{sep}{key}")
}

// ---- errors -------------------------------------------------------------------------------

/// A field value that is not one of its documented spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: field {field} has unexpected value {value:?} (expected {expected})")]
pub struct DecodeError {
    /// The row, as `TABLE|key`.
    pub key: String,
    /// The field name.
    pub field: String,
    /// The value found.
    pub value: String,
    /// What would have been accepted.
    pub expected: &'static str,
}

fn bad(key: &str, field: &str, value: &str, expected: &'static str) -> DecodeError {
    DecodeError {
        key: key.to_owned(),
        field: field.to_owned(),
        value: value.to_owned(),
        expected,
    }
}

/// A field's value with surrounding white space removed; `None` when absent or empty.
fn field<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

// ---- scalar decoders ------------------------------------------------------------------------

/// Parses a boolean in any case (`true`, `True`, `FALSE`, …). Nothing else is a boolean: `1`,
/// `yes` and `on` are errors, so a typo is never read as `false`.
pub fn parse_bool(key: &str, name: &str, value: &str) -> Result<bool, DecodeError> {
    let v = value.trim();
    if v.eq_ignore_ascii_case(TRUE) {
        Ok(true)
    } else if v.eq_ignore_ascii_case(FALSE) {
        Ok(false)
    } else {
        Err(bad(key, name, value, "true or false"))
    }
}

fn opt_bool(fields: &Fields, key: &str, name: &str, default: bool) -> Result<bool, DecodeError> {
    field(fields, name).map_or(Ok(default), |v| parse_bool(key, name, v))
}

fn opt_ts(fields: &Fields, key: &str, name: &str) -> Result<Option<Timestamp>, DecodeError> {
    match field(fields, name) {
        None => Ok(None),
        Some(v) => {
            // SONiC's Python writers sometimes store fractional seconds; keep the whole part.
            let whole = v.split_once('.').map_or(v, |(w, _)| w);
            whole
                .parse::<Timestamp>()
                .map(Some)
                .map_err(|_| bad(key, name, v, "seconds since the epoch"))
        }
    }
}

/// Parses `set_owner`: `local` or `kube` in any case; absent or empty is `local`.
pub fn parse_set_owner(key: &str, value: Option<&str>) -> Result<Owner, DecodeError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(Owner::Local),
        Some(v) if v.eq_ignore_ascii_case(OWNER_LOCAL) => Ok(Owner::Local),
        Some(v) if v.eq_ignore_ascii_case(OWNER_KUBE) => Ok(Owner::Kube),
        Some(v) => Err(bad(key, SET_OWNER, v, "local or kube")),
    }
}

/// Parses `current_owner`: `local`, `kube` or `none`; absent or empty is `none`.
pub fn parse_current_owner(key: &str, value: Option<&str>) -> Result<CurrentOwner, DecodeError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(CurrentOwner::None),
        Some(v) if v.eq_ignore_ascii_case(OWNER_NONE) => Ok(CurrentOwner::None),
        Some(v) if v.eq_ignore_ascii_case(OWNER_LOCAL) => Ok(CurrentOwner::Local),
        Some(v) if v.eq_ignore_ascii_case(OWNER_KUBE) => Ok(CurrentOwner::Kube),
        Some(v) => Err(bad(key, CURRENT_OWNER, v, "local, kube or none")),
    }
}

/// Parses `transition_mode`; absent or empty is `none`.
pub fn parse_transition_mode(
    key: &str,
    value: Option<&str>,
) -> Result<TransitionMode, DecodeError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(TransitionMode::None),
        Some(v) => TransitionMode::ALL
            .into_iter()
            .find(|m| v.eq_ignore_ascii_case(m.as_str()))
            .ok_or_else(|| {
                bad(
                    key,
                    TRANSITION_MODE,
                    v,
                    "none, kube_pending, kube_ready, kube_running or kube_stopped",
                )
            }),
    }
}

// ---- row decoders ---------------------------------------------------------------------------

/// Decodes CONFIG_DB `FEATURE|<f>`. `key` is the row's name for messages (`FEATURE|snmp`).
pub fn decode_feature_config(key: &str, fields: &Fields) -> Result<FeatureConfig, DecodeError> {
    let set_owner = parse_set_owner(key, field(fields, SET_OWNER))?;
    let fallback_to_local = decode_fallback(key, fields)?;
    let kube_failure_detection_mins = match field(fields, KUBE_FAILURE_DETECTION) {
        None => 0,
        Some(v) => v
            .parse::<u32>()
            .map_err(|_| bad(key, KUBE_FAILURE_DETECTION, v, "minutes as an integer >= 0"))?,
    };
    Ok(FeatureConfig {
        set_owner,
        fallback_to_local,
        kube_failure_detection_mins,
        state: field(fields, FEATURE_STATE).map(str::to_owned),
        minute_secs: crate::types::MINUTE_SECS,
    })
}

/// `fallback_to_local` when present; else the negation of upstream's `no_fallback_to_local`
/// when present; else the seed's default, `false`. (`sonic-kube migrate` writes
/// `fallback_to_local=true` for `set_owner=kube` rows with neither field, so that a switch
/// upgraded from upstream keeps upstream's default.)
pub fn decode_fallback(key: &str, fields: &Fields) -> Result<bool, DecodeError> {
    if let Some(v) = field(fields, FALLBACK_TO_LOCAL) {
        return parse_bool(key, FALLBACK_TO_LOCAL, v);
    }
    if let Some(v) = field(fields, upstream::NO_FALLBACK_TO_LOCAL) {
        return parse_bool(key, upstream::NO_FALLBACK_TO_LOCAL, v).map(|no| !no);
    }
    Ok(false)
}

/// Encodes the fields of CONFIG_DB `FEATURE|<f>` this project owns (not `state`).
pub fn encode_feature_config(cfg: &FeatureConfig) -> Vec<(&'static str, String)> {
    vec![
        (SET_OWNER, cfg.set_owner.as_str().to_owned()),
        (
            FALLBACK_TO_LOCAL,
            bool_str(cfg.fallback_to_local).to_owned(),
        ),
        (
            KUBE_FAILURE_DETECTION,
            cfg.kube_failure_detection_mins.to_string(),
        ),
    ]
}

/// Decodes STATE_DB `FEATURE|<f>`.
pub fn decode_feature_record(key: &str, fields: &Fields) -> Result<FeatureRecord, DecodeError> {
    let current_owner = parse_current_owner(key, field(fields, CURRENT_OWNER))?;
    let transition_mode = parse_transition_mode(key, field(fields, TRANSITION_MODE))?;
    let docker_id = match field(fields, DOCKER_ID) {
        None => None,
        Some(v) => Some(
            ContainerId::new(v).map_err(|_| bad(key, DOCKER_ID, v, "a container id or empty"))?,
        ),
    };
    Ok(FeatureRecord {
        current_owner,
        current_owner_update_ts: opt_ts(fields, key, CURRENT_OWNER_UPDATE_TS)?,
        docker_id,
        transition_mode,
        transition_mode_update_ts: opt_ts(fields, key, TRANSITION_MODE_UPDATE_TS)?,
        start_requested_ts: opt_ts(fields, key, START_REQUESTED_TS)?,
    })
}

/// A STATE_DB value that is none of its documented spellings, and what the total decoding
/// ([`decode_feature_state`], [`decode_server_status_total`]) read it as. STATE_DB is this
/// project's own table: such a value (a newer version's spelling after a rollback, a
/// half-written row, a hand edit) is read as the nearest value and reported, never refused;
/// the caller logs it and the next write repairs it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: field {field} has unknown value {value:?}: read as {read_as}")]
pub struct DecodeWarning {
    /// The row, as `TABLE|key`.
    pub key: String,
    /// The field name.
    pub field: String,
    /// The value found.
    pub value: String,
    /// What it was read as (a spelling, or `absent`).
    pub read_as: String,
}

/// A STATE_DB `FEATURE|<f>` row read by the total rule: the record, and one warning per field
/// whose value was not one of its documented spellings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DecodedRecord {
    /// The record, every unknown value read as its nearest known one.
    pub record: FeatureRecord,
    /// One per field that was read past.
    pub warnings: Vec<DecodeWarning>,
}

impl DecodedRecord {
    /// Whether some field was read past (the next write must rewrite it).
    pub fn needs_repair(&self) -> bool {
        !self.warnings.is_empty()
    }

    /// Whether `field` was read past.
    pub fn read_past(&self, field: &str) -> bool {
        self.warnings.iter().any(|w| w.field == field)
    }
}

/// `transition_mode` by the total rule: a documented spelling (any case) is its mode, absent
/// or empty is `none`, and anything else is `none` too (see [`decode_feature_state`]); the
/// flag says whether the value was one of the documented spellings.
pub fn read_transition_mode(value: Option<&str>) -> (TransitionMode, bool) {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => (TransitionMode::None, true),
        Some(v) => TransitionMode::ALL
            .into_iter()
            .find(|m| v.eq_ignore_ascii_case(m.as_str()))
            .map_or((TransitionMode::None, false), |m| (m, true)),
    }
}

/// Decodes STATE_DB `FEATURE|<f>` by the total rule of docs/decisions.md (rel-1): never an
/// error; a value that is none of its field's documented spellings is read as the nearest
/// one and named in a [`DecodeWarning`]:
///
/// - `transition_mode` unknown → `none`: the record then says what its owner says (a local
///   owner reads as LOCAL, a kube owner with an id as KUBE_RUNNING, no owner as INIT), so a
///   Stop stops the container the owner names — and from INIT the local container by name.
///   `none` depends on nothing else in the row, so a compare-and-set that meets the unknown
///   spelling knows what the reader saw ([`read_transition_mode`]).
/// - `docker_id` not a container id → upstream's `container_id` mirror when that is one
///   (the feature's name for a local owner, the short id for a kube owner: both name the
///   running container to Docker), else absent (a local owner's container is then stopped by
///   the feature's name).
/// - `current_owner` unknown → `kube` when an id is recorded and the mode is `kube_running`,
///   else `local`: the reading from which a Stop stops everything that may run (a Stop of
///   LOCAL stops the feature's container, a no-op when none runs; reading `none` would leave
///   a running local container alone).
/// - a timestamp that is not seconds since the epoch → absent.
pub fn decode_feature_state(key: &str, fields: &Fields) -> DecodedRecord {
    let mut warnings = Vec::new();
    let mut warn = |field: &str, value: &str, read_as: &str| {
        warnings.push(DecodeWarning {
            key: key.to_owned(),
            field: field.to_owned(),
            value: value.to_owned(),
            read_as: read_as.to_owned(),
        });
    };
    let raw = |name: &str| fields.get(name).map(String::as_str).unwrap_or("");
    let (transition_mode, known) = read_transition_mode(field(fields, TRANSITION_MODE));
    let docker_id = match field(fields, DOCKER_ID) {
        None => None,
        Some(v) => match ContainerId::new(v) {
            Ok(id) => Some(id),
            Err(_) => {
                let mirror =
                    field(fields, upstream::CONTAINER_ID).and_then(|c| ContainerId::new(c).ok());
                let read_as = mirror.as_ref().map_or_else(
                    || "absent".to_owned(),
                    |m| format!("{} {m}", upstream::CONTAINER_ID),
                );
                warn(DOCKER_ID, raw(DOCKER_ID), &read_as);
                mirror
            }
        },
    };
    let current_owner = match parse_current_owner(key, field(fields, CURRENT_OWNER)) {
        Ok(o) => o,
        Err(_) => {
            let o = if docker_id.is_some() && transition_mode == TransitionMode::KubeRunning {
                CurrentOwner::Kube
            } else {
                CurrentOwner::Local
            };
            warn(CURRENT_OWNER, raw(CURRENT_OWNER), o.as_str());
            o
        }
    };
    if !known {
        warn(
            TRANSITION_MODE,
            raw(TRANSITION_MODE),
            transition_mode.as_str(),
        );
    }
    let mut ts = |name: &str| {
        opt_ts(fields, key, name).unwrap_or_else(|_| {
            warn(name, raw(name), "absent");
            None
        })
    };
    let current_owner_update_ts = ts(CURRENT_OWNER_UPDATE_TS);
    let transition_mode_update_ts = ts(TRANSITION_MODE_UPDATE_TS);
    let start_requested_ts = ts(START_REQUESTED_TS);
    DecodedRecord {
        record: FeatureRecord {
            current_owner,
            current_owner_update_ts,
            docker_id,
            transition_mode,
            transition_mode_update_ts,
            start_requested_ts,
        },
        warnings,
    }
}

/// Encodes a whole STATE_DB `FEATURE|<f>` record (absent timestamps are left out).
pub fn encode_feature_record(rec: &FeatureRecord) -> Vec<(&'static str, String)> {
    let mut out = vec![
        (CURRENT_OWNER, rec.current_owner.as_str().to_owned()),
        (
            DOCKER_ID,
            rec.docker_id
                .as_ref()
                .map(|d| d.as_str().to_owned())
                .unwrap_or_default(),
        ),
        (TRANSITION_MODE, rec.transition_mode.as_str().to_owned()),
    ];
    if let Some(ts) = rec.current_owner_update_ts {
        out.push((CURRENT_OWNER_UPDATE_TS, ts.to_string()));
    }
    if let Some(ts) = rec.transition_mode_update_ts {
        out.push((TRANSITION_MODE_UPDATE_TS, ts.to_string()));
    }
    if let Some(ts) = rec.start_requested_ts {
        out.push((START_REQUESTED_TS, ts.to_string()));
    }
    out
}

/// The fields of one STATE_DB `FEATURE|<f>` write, for one HSET: the seed's (the owner with
/// its id and timestamp, the mode with its timestamp) and, beside them, the upstream mirror
/// ([`upstream::mirror_write`]).
pub fn encode_state_write(feature: &FeatureName, w: &StateWrite) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(9);
    if let Some(o) = &w.owner {
        out.push((CURRENT_OWNER, o.owner.as_str().to_owned()));
        out.push((
            DOCKER_ID,
            o.docker_id
                .as_ref()
                .map(|d| d.as_str().to_owned())
                .unwrap_or_default(),
        ));
        out.push((CURRENT_OWNER_UPDATE_TS, w.now.to_string()));
    }
    if let Some(m) = w.mode {
        out.push((TRANSITION_MODE, m.as_str().to_owned()));
        out.push((TRANSITION_MODE_UPDATE_TS, w.now.to_string()));
    }
    if let Some(requested) = w.start_requested {
        // The start-requested marker (`""` clears it).
        let value = if requested {
            w.now.to_string()
        } else {
            String::new()
        };
        out.push((START_REQUESTED_TS, value));
    }
    out.extend(upstream::mirror_write(feature, w));
    out
}

/// Decodes CONFIG_DB `KUBERNETES_MASTER|SERVER`.
pub fn decode_server_config(key: &str, fields: &Fields) -> Result<ServerConfig, DecodeError> {
    let port = match field(fields, SERVER_PORT) {
        None => DEFAULT_SERVER_PORT,
        Some(v) => match v.parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => return Err(bad(key, SERVER_PORT, v, "a port 1-65535")),
        },
    };
    let ip = match field(fields, SERVER_IP) {
        None => None,
        Some(v) if is_valid_host(v) => Some(v.to_owned()),
        Some(v) => {
            return Err(bad(
                key,
                SERVER_IP,
                v,
                "an IPv4 or IPv6 address or a DNS name",
            ));
        }
    };
    Ok(ServerConfig {
        ip,
        port,
        insecure: opt_bool(fields, key, SERVER_INSECURE, false)?,
        disable: opt_bool(fields, key, SERVER_DISABLE, false)?,
    })
}

/// Encodes CONFIG_DB `KUBERNETES_MASTER|SERVER`.
pub fn encode_server_config(cfg: &ServerConfig) -> Vec<(&'static str, String)> {
    let mut out = vec![
        (SERVER_PORT, cfg.port.to_string()),
        (SERVER_INSECURE, bool_str(cfg.insecure).to_owned()),
        (SERVER_DISABLE, bool_str(cfg.disable).to_owned()),
    ];
    if let Some(ip) = &cfg.ip {
        out.push((SERVER_IP, ip.clone()));
    }
    out
}

/// Whether `host` is an IPv4 address, an IPv6 address (bare or in brackets) or a DNS name
/// (RFC 1123 labels of at most 63 characters, at most 253 in all).
pub fn is_valid_host(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    // Something that looks like a dotted quad but failed to parse as one is a bad IPv4
    // address, not a DNS name.
    if host
        .split('.')
        .all(|p| p.chars().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

/// Decodes STATE_DB `KUBERNETES_MASTER|SERVER`.
pub fn decode_server_status(key: &str, fields: &Fields) -> Result<ServerStatus, DecodeError> {
    Ok(ServerStatus {
        connected: opt_bool(fields, key, SERVER_CONNECTED, false)?,
        last_update_ts: opt_ts(fields, key, SERVER_LAST_UPDATE_TS)?,
    })
}

/// Decodes STATE_DB `KUBERNETES_MASTER|SERVER` by the total rule (rel-1): `connected` that
/// is not a boolean reads as `false` (not connected: the daemons then retry the join), a
/// `last_update_ts` that is not seconds since the epoch as absent, each with a warning.
pub fn decode_server_status_total(
    key: &str,
    fields: &Fields,
) -> (ServerStatus, Vec<DecodeWarning>) {
    let mut warnings = Vec::new();
    let raw = |name: &str| fields.get(name).cloned().unwrap_or_default();
    let connected = opt_bool(fields, key, SERVER_CONNECTED, false).unwrap_or_else(|_| {
        warnings.push(DecodeWarning {
            key: key.to_owned(),
            field: SERVER_CONNECTED.to_owned(),
            value: raw(SERVER_CONNECTED),
            read_as: FALSE.to_owned(),
        });
        false
    });
    let last_update_ts = opt_ts(fields, key, SERVER_LAST_UPDATE_TS).unwrap_or_else(|_| {
        warnings.push(DecodeWarning {
            key: key.to_owned(),
            field: SERVER_LAST_UPDATE_TS.to_owned(),
            value: raw(SERVER_LAST_UPDATE_TS),
            read_as: "absent".to_owned(),
        });
        None
    });
    (
        ServerStatus {
            connected,
            last_update_ts,
        },
        warnings,
    )
}

/// Encodes STATE_DB `KUBERNETES_MASTER|SERVER` (one HSET), with upstream's `update_time`
/// beside `last_update_ts`.
pub fn encode_server_status(st: &ServerStatus) -> Vec<(&'static str, String)> {
    let mut out = vec![(SERVER_CONNECTED, bool_str(st.connected).to_owned())];
    if let Some(ts) = st.last_update_ts {
        out.push((SERVER_LAST_UPDATE_TS, ts.to_string()));
    }
    out.extend(upstream::mirror_server_status(st));
    out
}

/// Decodes CONFIG_DB `DEVICE_METADATA|localhost`. Every field is free text; nothing fails.
pub fn decode_device_metadata(fields: &Fields) -> DeviceMetadata {
    let get = |n: &str| field(fields, n).map(str::to_owned);
    DeviceMetadata {
        hostname: get(HOSTNAME),
        platform: get(PLATFORM),
        hwsku: get(HWSKU),
        deployment_type: get(DEVICE_TYPE),
    }
}

/// Decodes the `labels@` list of STATE_DB `KUBE_SERVER|PENDING_LABELS`: comma-joined
/// `key=value` (add) and `key-` (remove) items, in order. An absent or empty field is an empty
/// list; a malformed item is an error naming it.
pub fn decode_pending_labels(key: &str, value: Option<&str>) -> Result<Vec<LabelOp>, DecodeError> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(Vec::new());
    };
    v.split(LIST_SEPARATOR)
        .map(|item| {
            item.parse::<LabelOp>().map_err(|_: LabelParseError| {
                bad(key, PENDING_LABELS_FIELD, item, "key=value or key-")
            })
        })
        .collect()
}

/// Decodes the `labels@` list by the total rule (rel-1): a malformed item is left out with a
/// warning naming it (it could never be applied; the next rewrite of the list drops it), the
/// others keep their order.
pub fn decode_pending_labels_total(
    key: &str,
    value: Option<&str>,
) -> (Vec<LabelOp>, Vec<DecodeWarning>) {
    let mut ops = Vec::new();
    let mut warnings = Vec::new();
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return (ops, warnings);
    };
    for item in v.split(LIST_SEPARATOR) {
        match item.parse::<LabelOp>() {
            Ok(op) => ops.push(op),
            Err(_) => warnings.push(DecodeWarning {
                key: key.to_owned(),
                field: PENDING_LABELS_FIELD.to_owned(),
                value: item.to_owned(),
                read_as: "absent (the item is left out)".to_owned(),
            }),
        }
    }
    (ops, warnings)
}

/// Encodes a pending-label list as SONiC's comma-joined list value.
pub fn encode_pending_labels(ops: &[LabelOp]) -> String {
    ops.iter()
        .map(LabelOp::to_string)
        .collect::<Vec<_>>()
        .join(LIST_SEPARATOR)
}

/// The DB spelling of a boolean.
pub fn bool_str(b: bool) -> &'static str {
    if b { TRUE } else { FALSE }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn feature_config_defaults_when_fields_are_absent_or_empty() {
        let c = decode_feature_config("FEATURE|snmp", &f(&[("set_owner", "")])).expect("decodes");
        assert_eq!(c, FeatureConfig::default());
    }

    #[test]
    fn booleans_are_read_in_any_case_and_nothing_else_is_a_boolean() {
        for (v, want) in [
            ("true", true),
            ("TRUE", true),
            ("False", false),
            (" false ", false),
        ] {
            assert_eq!(parse_bool("k", "f", v), Ok(want));
        }
        for v in ["1", "yes", "on", "tru", "falsey"] {
            let e = parse_bool("FEATURE|snmp", "fallback_to_local", v).expect_err(v);
            assert_eq!(e.field, "fallback_to_local");
            assert!(e.to_string().contains("FEATURE|snmp"));
        }
    }

    #[test]
    fn unknown_set_owner_is_an_error_naming_key_field_and_value() {
        let e = decode_feature_config("FEATURE|snmp", &f(&[("set_owner", "kub")]))
            .expect_err("kub is not an owner");
        assert_eq!(
            e.to_string(),
            "FEATURE|snmp: field set_owner has unexpected value \"kub\" (expected local or kube)"
        );
    }

    #[test]
    fn feature_record_round_trips() {
        let rec = FeatureRecord {
            current_owner: CurrentOwner::Kube,
            current_owner_update_ts: Some(17),
            docker_id: ContainerId::new("0123abcd").ok(),
            transition_mode: TransitionMode::KubeRunning,
            transition_mode_update_ts: Some(18),
            start_requested_ts: Some(19),
        };
        let fields: Fields = encode_feature_record(&rec)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert_eq!(decode_feature_record("FEATURE|x", &fields), Ok(rec));
    }

    #[test]
    fn fallback_is_fallback_to_local_else_not_no_fallback_to_local_else_false() {
        let k = "FEATURE|lldp";
        for (pairs, want) in [
            (vec![], false),
            (vec![("set_owner", "kube")], false),
            (vec![("no_fallback_to_local", "false")], true),
            (vec![("no_fallback_to_local", "True")], false),
            (
                vec![
                    ("fallback_to_local", "true"),
                    ("no_fallback_to_local", "true"),
                ],
                true,
            ),
            (
                vec![
                    ("fallback_to_local", "false"),
                    ("no_fallback_to_local", "false"),
                ],
                false,
            ),
            (
                vec![("fallback_to_local", ""), ("no_fallback_to_local", "false")],
                true,
            ),
        ] {
            let c = decode_feature_config(k, &f(&pairs)).expect("decodes");
            assert_eq!(c.fallback_to_local, want, "{pairs:?}");
        }
        let e = decode_feature_config(k, &f(&[("no_fallback_to_local", "yes")]))
            .expect_err("not a boolean");
        assert_eq!(e.field, "no_fallback_to_local");
    }

    #[test]
    fn state_decoding_is_total_and_names_what_it_read_past() {
        let d = decode_feature_state(
            "FEATURE|snmp",
            &f(&[
                ("current_owner", "garbage"),
                ("docker_id", "0123abcd"),
                ("transition_mode", "kube_running"),
                ("transition_mode_update_ts", "yesterday"),
                ("current_owner_update_ts", "17"),
            ]),
        );
        assert_eq!(d.record.current_owner, CurrentOwner::Kube);
        assert_eq!(d.record.transition_mode_update_ts, None);
        assert_eq!(d.record.current_owner_update_ts, Some(17));
        let named: Vec<_> = d.warnings.iter().map(|w| w.field.as_str()).collect();
        assert_eq!(named, ["current_owner", "transition_mode_update_ts"]);
        assert_eq!(
            d.warnings[0].to_string(),
            "FEATURE|snmp: field current_owner has unknown value \"garbage\": read as kube"
        );
        assert!(
            decode_feature_record(
                "FEATURE|snmp",
                &f(&[("transition_mode_update_ts", "yesterday")])
            )
            .is_err(),
            "the strict decoder still refuses"
        );
        // An unknown mode is none: the owner says what runs.
        let d = decode_feature_state(
            "K",
            &f(&[("current_owner", "local"), ("transition_mode", "weird")]),
        );
        assert_eq!(d.record.state(), crate::types::State::Local);
        assert_eq!(d.warnings[0].read_as, "none");
        // An unknown owner without a kube id is local: a Stop stops the local container.
        let d = decode_feature_state("K", &f(&[("current_owner", "x"), ("docker_id", "snmp")]));
        assert_eq!(d.record.current_owner, CurrentOwner::Local);
        let d = decode_feature_state("K", &f(&[("current_owner", "x")]));
        assert_eq!(d.record.current_owner, CurrentOwner::Local);
        // A docker_id that is no id falls back to upstream's container_id, else absent.
        let d = decode_feature_state(
            "K",
            &f(&[
                ("current_owner", "kube"),
                ("transition_mode", "kube_running"),
                ("docker_id", "not an id|*"),
                ("container_id", "0123456789ab"),
            ]),
        );
        assert_eq!(d.record.docker_id, ContainerId::new("0123456789ab").ok());
        assert_eq!(d.record.state(), crate::types::State::KubeRunning);
        let d = decode_feature_state("K", &f(&[("docker_id", "a b")]));
        assert_eq!(d.record.docker_id, None);
        assert!(d.read_past(DOCKER_ID));
        // Documented spellings in any case are no warning.
        let d = decode_feature_state(
            "K",
            &f(&[
                ("current_owner", " LOCAL "),
                ("transition_mode", "Kube_Pending"),
            ]),
        );
        assert!(!d.needs_repair(), "{:?}", d.warnings);
    }

    #[test]
    fn server_config_checks_port_and_ip() {
        let ok = decode_server_config(
            "KUBERNETES_MASTER|SERVER",
            &f(&[("ip", "10.3.1.1"), ("port", "443"), ("insecure", "True")]),
        )
        .expect("decodes");
        assert_eq!(ok.port, 443);
        assert!(ok.insecure);
        for (field_name, v) in [
            ("port", "0"),
            ("port", "70000"),
            ("ip", "300.1.1.1"),
            ("ip", "a b"),
        ] {
            assert!(
                decode_server_config("K", &f(&[(field_name, v)])).is_err(),
                "{field_name}={v}"
            );
        }
        for host in ["fd00::1", "[fd00::1]", "master.example.com", "k8s-1"] {
            assert!(is_valid_host(host), "{host}");
        }
    }

    #[test]
    fn pending_labels_decode_in_order() {
        let ops = decode_pending_labels("KUBE_SERVER|PENDING_LABELS", Some("a=1,b-,a=2"))
            .expect("decodes");
        assert_eq!(encode_pending_labels(&ops), "a=1,b-,a=2");
        assert!(decode_pending_labels("K", Some("a=1,=x")).is_err());
        assert_eq!(decode_pending_labels("K", Some("")), Ok(vec![]));
    }
}
