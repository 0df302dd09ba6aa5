//! The rows of the master's configuration and status, DEVICE_METADATA, and the pending-label
//! list.

use super::*;
use crate::label::{LabelOp, LabelParseError};
use crate::types::{DeviceMetadata, ServerConfig, ServerStatus};

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
