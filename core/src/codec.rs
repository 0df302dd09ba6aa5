//! The DB field codec: every CONFIG_DB and STATE_DB string this project reads or writes, and
//! total decoders from Redis hash fields to the [`crate::types`].
//!
//! Decoding never panics. CONFIG_DB (the operator's) is strict: a value that is not one of the
//! documented spellings is a [`DecodeError`] naming the key, the field and the value. STATE_DB
//! (this project's own) is decoded totally ([`decode_feature_state`]): such a value is read as
//! the nearest known one with a [`DecodeWarning`], and the next write repairs it
//! (docs/decisions.md, rel-1). Absent and empty fields take the documented defaults.

use std::collections::HashMap;

mod feature;
mod server;
pub mod upstream;

pub use feature::{
    DecodeWarning, DecodedRecord, decode_fallback, decode_feature_config, decode_feature_record,
    decode_feature_state, encode_feature_config, encode_feature_record, encode_state_write,
    read_transition_mode,
};
pub use server::{
    decode_device_metadata, decode_pending_labels, decode_pending_labels_total,
    decode_server_config, decode_server_status, decode_server_status_total, encode_pending_labels,
    encode_server_config, encode_server_status, is_valid_host,
};

use crate::types::{CurrentOwner, Owner, Timestamp, TransitionMode};

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

/// The DB spelling of a boolean.
pub fn bool_str(b: bool) -> &'static str {
    if b { TRUE } else { FALSE }
}

#[cfg(test)]
mod tests;
