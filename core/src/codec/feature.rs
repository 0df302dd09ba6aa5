//! The rows of `FEATURE|<f>`: CONFIG_DB's configuration, STATE_DB's record (strict and
//! total), and one write of the record.

use super::*;
use crate::machine::StateWrite;
use crate::types::{ContainerId, FeatureConfig, FeatureName, FeatureRecord};

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
