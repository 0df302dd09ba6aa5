//! The upstream mirror: the STATE_DB and CONFIG_DB fields SONiC's shipped tools (the Python
//! `ctrmgrd`, `container` and `container_startup.py` of sonic-buildimage, `show feature
//! status`, `show kubernetes …` and `config kubernetes label …` of sonic-utilities, monit's
//! `container_checker`) read and write, and how this project's own fields map onto them.
//!
//! The seed's fields (`current_owner`, `docker_id`, `transition_mode`, the epoch timestamps)
//! stay the source of truth. Every STATE_DB `FEATURE|<f>` write also carries, in the same HSET,
//! the upstream fields derived from it by [`mirror_write`]; [`decode_upstream`] reads them back,
//! and the two are inverse on everything the seed's fields determine (tested both ways).
//!
//! | seed | upstream |
//! |---|---|
//! | `transition_mode` `none`/`kube_pending`/`kube_ready`/`kube_running`/`kube_stopped` | `remote_state` `none`/`pending`/`ready`/`running`/`stopped` ([`REMOTE_STATES`]) |
//! | `current_owner` `local` | `container_id` = the feature's name (the local container's name) |
//! | `current_owner` `kube` + `docker_id` | `container_id` = the id's first 12 characters |
//! | `current_owner` `none` | `container_id` = `""` |
//! | owner written `local`/`kube`, or mode written `kube_ready`/`kube_running` | `system_state` = `up` |
//! | owner written `none`, or mode written `none` | `system_state` = `down` |
//! | any write at `now` | `update_time` = `now` as `%Y-%m-%d %H:%M:%S` (UTC) |
//! | `container_startup.py -v V` (the binary run under that name) | `container_version` = `V` |
//! | server `last_update_ts` | server `update_time` |

use std::collections::HashMap;

use crate::machine::StateWrite;
use crate::types::{
    ContainerId, CurrentOwner, FeatureName, FeatureRecord, ServerStatus, Timestamp, TransitionMode,
};

// ---- names --------------------------------------------------------------------------------

/// CONFIG_DB `FEATURE|<f>` `no_fallback_to_local` (upstream; absent = fallback allowed).
pub const NO_FALLBACK_TO_LOCAL: &str = "no_fallback_to_local";
/// STATE_DB `FEATURE|<f>` `container_id`: non-empty while a container runs the feature
/// (monit's `container_checker` counts the feature as running then).
pub const CONTAINER_ID: &str = "container_id";
/// STATE_DB `FEATURE|<f>` `remote_state`.
pub const REMOTE_STATE: &str = "remote_state";
/// STATE_DB `FEATURE|<f>` `system_state`: `up` after a Start, `down` after a Stop or Kill.
pub const SYSTEM_STATE: &str = "system_state";
/// STATE_DB `FEATURE|<f>` and `KUBERNETES_MASTER|SERVER` `update_time`.
pub const UPDATE_TIME: &str = "update_time";
/// STATE_DB `FEATURE|<f>` `container_version`: the running container's `IMAGE_VERSION`.
pub const CONTAINER_VERSION: &str = "container_version";
/// STATE_DB `KUBE_LABELS` table (upstream's label table).
pub const KUBE_LABELS_TABLE: &str = "KUBE_LABELS";
/// The one key of `KUBE_LABELS` upstream reads and writes: `KUBE_LABELS|SET`.
pub const KUBE_LABELS_SET_KEY: &str = "SET";

/// `system_state` value `up`.
pub const SYSTEM_UP: &str = "up";
/// `system_state` value `down`.
pub const SYSTEM_DOWN: &str = "down";

/// The format of `update_time` (Python's `strftime`), as upstream writes it.
pub const UPDATE_TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// How many characters of a kube container's id upstream records (`get_docker_id()[:12]`).
pub const SHORT_ID_LEN: usize = 12;

/// THE table: `transition_mode` ↔ `remote_state`. Used both ways.
pub const REMOTE_STATES: [(TransitionMode, &str); 5] = [
    (TransitionMode::None, "none"),
    (TransitionMode::KubePending, "pending"),
    (TransitionMode::KubeReady, "ready"),
    (TransitionMode::KubeRunning, "running"),
    (TransitionMode::KubeStopped, "stopped"),
];

// ---- seed → upstream -------------------------------------------------------------------------

/// `remote_state` of a `transition_mode`.
pub fn remote_state(mode: TransitionMode) -> &'static str {
    REMOTE_STATES
        .iter()
        .find(|(m, _)| *m == mode)
        .map_or("none", |(_, s)| s)
}

/// `container_id` as upstream writes it: the feature's name for a local owner (the local
/// container is named after it), the first 12 characters of the id for a kube owner, `""`
/// when nothing owns the feature (or a kube owner has no recorded id).
pub fn container_id(
    feature: &FeatureName,
    owner: CurrentOwner,
    docker_id: Option<&ContainerId>,
) -> String {
    match owner {
        CurrentOwner::None => String::new(),
        CurrentOwner::Local => feature.as_str().to_owned(),
        CurrentOwner::Kube => docker_id.map(|d| d.short().to_owned()).unwrap_or_default(),
    }
}

/// `system_state` after a write, when the write says: `up` when it records a running owner or
/// an approval/claim by kube (`kube_ready`, `kube_running`), `down` when it records that
/// nothing runs (owner `none`, or the mode cleared without an owner); `None` (left as it is)
/// for a write of `kube_pending` or `kube_stopped` alone, which a kube container's request or
/// exit makes without any Start or Stop of the service.
pub fn system_state(w: &StateWrite) -> Option<&'static str> {
    if let Some(o) = &w.owner {
        return Some(match o.owner {
            CurrentOwner::None => SYSTEM_DOWN,
            CurrentOwner::Local | CurrentOwner::Kube => SYSTEM_UP,
        });
    }
    match w.mode? {
        TransitionMode::KubeReady | TransitionMode::KubeRunning => Some(SYSTEM_UP),
        TransitionMode::None => Some(SYSTEM_DOWN),
        TransitionMode::KubePending | TransitionMode::KubeStopped => None,
    }
}

/// The upstream fields of one STATE_DB `FEATURE|<f>` write, for the same HSET as the seed's.
pub fn mirror_write(feature: &FeatureName, w: &StateWrite) -> Vec<(&'static str, String)> {
    let mut out = Vec::with_capacity(4);
    if let Some(o) = &w.owner {
        out.push((
            CONTAINER_ID,
            container_id(feature, o.owner, o.docker_id.as_ref()),
        ));
    }
    if let Some(m) = w.mode {
        out.push((REMOTE_STATE, remote_state(m).to_owned()));
    }
    if let Some(s) = system_state(w) {
        out.push((SYSTEM_STATE, s.to_owned()));
    }
    // Upstream's update_time is the time of the last change of owner or state; a write of
    // neither (a marker of the seed's alone) leaves it.
    if w.owner.is_some() || w.mode.is_some() {
        out.push((UPDATE_TIME, format_update_time(w.now)));
    }
    out
}

/// Upstream fields a write sets only when the row lacks them (`HSETNX`): `remote_state=none`
/// for a write that leaves the mode alone, so that a row that never had a mode (absent =
/// `none`) says `none` as upstream's local start writes it. A row that has a mode already has
/// its mirror, which this never overwrites.
pub fn mirror_defaults(w: &StateWrite) -> Vec<(&'static str, &'static str)> {
    if w.mode.is_none() {
        vec![(REMOTE_STATE, remote_state(TransitionMode::None))]
    } else {
        Vec::new()
    }
}

/// The upstream fields of a whole record (for setting a row up): `container_id`,
/// `remote_state`, `system_state` (`up` when an owner runs or kube is approved or running,
/// else `down`) and `update_time` of the latest timestamp, when there is one.
pub fn mirror_record(feature: &FeatureName, rec: &FeatureRecord) -> Vec<(&'static str, String)> {
    let up = rec.current_owner != CurrentOwner::None
        || matches!(
            rec.transition_mode,
            TransitionMode::KubeReady | TransitionMode::KubeRunning
        );
    let mut out = vec![
        (
            CONTAINER_ID,
            container_id(feature, rec.current_owner, rec.docker_id.as_ref()),
        ),
        (REMOTE_STATE, remote_state(rec.transition_mode).to_owned()),
        (
            SYSTEM_STATE,
            (if up { SYSTEM_UP } else { SYSTEM_DOWN }).to_owned(),
        ),
    ];
    if let Some(ts) = rec
        .current_owner_update_ts
        .max(rec.transition_mode_update_ts)
    {
        out.push((UPDATE_TIME, format_update_time(ts)));
    }
    out
}

/// The upstream field of STATE_DB `KUBERNETES_MASTER|SERVER` derived from the seed's status:
/// `update_time` of `last_update_ts`. (`ip` and `port` come from the configuration and are
/// written beside it by the adapter.)
pub fn mirror_server_status(st: &ServerStatus) -> Vec<(&'static str, String)> {
    st.last_update_ts
        .map(|ts| vec![(UPDATE_TIME, format_update_time(ts))])
        .unwrap_or_default()
}

// ---- sonic-kube migrate ----------------------------------------------------------------------

/// The rule of `sonic-kube migrate` for one CONFIG_DB `FEATURE|<f>` row: when `set_owner` is
/// `kube` (any case) and neither `fallback_to_local` nor `no_fallback_to_local` is present
/// (absent or empty), the field to write — `fallback_to_local=true`, upstream's implicit
/// default made explicit; otherwise `None` (nothing to change; so a second run changes
/// nothing). After it, [`crate::codec::decode_fallback`] reads every `set_owner=kube` row as
/// upstream's ctrmgrd reads it.
pub fn migrate_write(fields: &HashMap<String, String>) -> Option<(&'static str, &'static str)> {
    let present = |name: &str| fields.get(name).is_some_and(|v| !v.trim().is_empty());
    let kube = fields
        .get(crate::codec::SET_OWNER)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(crate::codec::OWNER_KUBE));
    (kube && !present(crate::codec::FALLBACK_TO_LOCAL) && !present(NO_FALLBACK_TO_LOCAL))
        .then_some((crate::codec::FALLBACK_TO_LOCAL, crate::codec::TRUE))
}

// ---- upstream → seed -------------------------------------------------------------------------

/// `transition_mode` of a `remote_state` (any case); `None` when it is not one of the five.
pub fn mode_of_remote_state(value: &str) -> Option<TransitionMode> {
    let v = value.trim();
    REMOTE_STATES
        .iter()
        .find(|(_, s)| v.eq_ignore_ascii_case(s))
        .map(|(m, _)| *m)
}

/// What the upstream fields of a STATE_DB `FEATURE|<f>` row say, read as upstream's readers
/// read them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpstreamView {
    /// `container_id` (`""` when absent).
    pub container_id: String,
    /// `remote_state` read through [`REMOTE_STATES`]; `None` when absent or not one of them.
    pub mode: Option<TransitionMode>,
    /// `system_state` (`""` when absent).
    pub system_state: String,
    /// `update_time` parsed back to seconds since the epoch; `None` when absent or malformed.
    pub update_time: Option<Timestamp>,
    /// `container_version` (`None` when absent).
    pub container_version: Option<String>,
}

impl UpstreamView {
    /// Whether monit's `container_checker` counts the feature as running: a non-empty
    /// `container_id`.
    pub fn running(&self) -> bool {
        !self.container_id.is_empty()
    }
}

/// Reads the upstream fields of a STATE_DB `FEATURE|<f>` row. Total: a field that is absent or
/// malformed reads as absent.
pub fn decode_upstream(fields: &HashMap<String, String>) -> UpstreamView {
    let get = |n: &str| fields.get(n).map(|v| v.trim().to_owned());
    UpstreamView {
        container_id: get(CONTAINER_ID).unwrap_or_default(),
        mode: get(REMOTE_STATE).and_then(|v| mode_of_remote_state(&v)),
        system_state: get(SYSTEM_STATE).unwrap_or_default(),
        update_time: get(UPDATE_TIME).and_then(|v| parse_update_time(&v)),
        container_version: get(CONTAINER_VERSION),
    }
}

// ---- update_time -----------------------------------------------------------------------------

/// Formats seconds since the epoch as `%Y-%m-%d %H:%M:%S` in UTC (SONiC's default time zone;
/// see docs/decisions.md).
pub fn format_update_time(ts: Timestamp) -> String {
    let days = ts.secs() / 86_400;
    let secs = ts.secs() % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// Parses `%Y-%m-%d %H:%M:%S` (UTC) back to seconds since the epoch; `None` when malformed or
/// before 1970.
pub fn parse_update_time(s: &str) -> Option<Timestamp> {
    let (date, time) = s.trim().split_once(' ')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<u64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.splitn(3, ':').map(|p| p.parse::<u64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&m) || day == 0 || day > days_in_month(y, m) || hh > 23 || mm > 59 {
        return None;
    }
    if ss > 59 || y < 1970 {
        return None;
    }
    Some(Timestamp::from_secs(
        days_from_civil(y, m, day) * 86_400 + hh * 3600 + mm * 60 + ss,
    ))
}

fn is_leap(y: u64) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u64, m: u64) -> u64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// (year ≥ 1970, month, day) → days since 1970-01-01.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(s: &str) -> FeatureName {
        FeatureName::new(s).expect("valid")
    }

    #[test]
    fn the_remote_state_table_is_a_bijection_used_both_ways() {
        for m in TransitionMode::ALL {
            assert_eq!(mode_of_remote_state(remote_state(m)), Some(m), "{m}");
        }
        for (_, s) in REMOTE_STATES {
            let m = mode_of_remote_state(s).expect("in the table");
            assert_eq!(remote_state(m), s);
            assert_eq!(mode_of_remote_state(&s.to_uppercase()), Some(m));
        }
        assert_eq!(mode_of_remote_state("kube_ready"), None);
    }

    #[test]
    fn update_time_is_formatted_as_upstream_and_parses_back() {
        let at = Timestamp::from_secs;
        assert_eq!(format_update_time(at(0)), "1970-01-01 00:00:00");
        assert_eq!(format_update_time(at(1_700_000_000)), "2023-11-14 22:13:20");
        assert_eq!(format_update_time(at(951_782_400)), "2000-02-29 00:00:00");
        for ts in [0, 59, 86_399, 951_782_400, 1_700_000_000, 4_102_444_799].map(at) {
            assert_eq!(parse_update_time(&format_update_time(ts)), Some(ts));
        }
        for bad in [
            "",
            "2023-11-14",
            "2023-13-01 00:00:00",
            "2023-02-29 00:00:00",
            "x y",
        ] {
            assert_eq!(parse_update_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn container_id_is_the_name_for_local_the_short_id_for_kube_and_empty_for_none() {
        let f = feature("snmp");
        let id = ContainerId::new("0123456789abcdef0123").expect("valid");
        assert_eq!(container_id(&f, CurrentOwner::Local, Some(&id)), "snmp");
        assert_eq!(
            container_id(&f, CurrentOwner::Kube, Some(&id)),
            "0123456789ab"
        );
        assert_eq!(container_id(&f, CurrentOwner::None, Some(&id)), "");
    }

    #[test]
    fn a_write_and_its_mirror_read_back_consistently() {
        use crate::machine::{Effect, Input, step};
        use crate::types::{FeatureConfig, Owner, State};
        let f = feature("lldp");
        let id = ContainerId::new("feedfacecafebeef00").expect("valid");
        // A kube container claims an approved feature: owner, id and mode in one write.
        let s = step(
            &FeatureRecord::of_state(State::KubeReady, None),
            &FeatureConfig::new(Owner::Kube, false),
            Input::KubeUp(id.clone()),
            Timestamp::from_secs(1_700_000_000),
        );
        let w = s
            .effects
            .iter()
            .find_map(|e| match e {
                Effect::Write(w) => Some(w.clone()),
                _ => None,
            })
            .expect("the claim is written");
        let fields: HashMap<String, String> = mirror_write(&f, &w)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let v = decode_upstream(&fields);
        assert_eq!(v.mode, Some(TransitionMode::KubeRunning));
        assert_eq!(v.container_id, id.short());
        assert_eq!(v.system_state, SYSTEM_UP);
        assert_eq!(v.update_time, Some(Timestamp::from_secs(1_700_000_000)));
        assert!(v.running());
    }
}
