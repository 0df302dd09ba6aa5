//! Properties, checked with proptest.
//!
//! Part one: every decoder of the DB codec and every parser of names, ids and labels is total
//! over arbitrary input (never panics, and an error names the key, field and value), and valid
//! values survive encode → decode unchanged.
//!
//! Part two: a small world simulator drives `step` the way the driver, systemd, kubelet,
//! hostcfgd and kube-monit would, through random event sequences from every starting state and
//! configuration, and checks the invariants of DESIGN.md §4 after every event.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};

use ctrmgr_core::codec::{self, Fields};
use ctrmgr_core::label::{self, LabelKey, LabelOp, LabelValue};
use ctrmgr_core::machine::CAS_RETRIES;
use ctrmgr_core::{
    ContainerId, CurrentOwner, Effect, FeatureConfig, FeatureName, FeatureRecord, Input,
    KubeAnswer, Owner, OwnerWrite, Reason, ServerConfig, ServerStatus, State, StateWrite,
    StopOptions, Target, Timestamp, TransitionMode, UnitActivity, approval_pending, next_deadline,
    step,
};
use proptest::prelude::*;
use proptest::test_runner::Config;

use crate::EARLIER;

/// proptest settings: `cases` per property, no regression files written into the source tree.
fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// ================================================================================================
// Part one: the codec
// ================================================================================================

/// Every field name the codec knows, so that random maps hit the real decoders' branches.
const KNOWN_FIELDS: &[&str] = &[
    codec::SET_OWNER,
    codec::FALLBACK_TO_LOCAL,
    codec::KUBE_FAILURE_DETECTION,
    codec::FEATURE_STATE,
    codec::CURRENT_OWNER,
    codec::CURRENT_OWNER_UPDATE_TS,
    codec::DOCKER_ID,
    codec::TRANSITION_MODE,
    codec::TRANSITION_MODE_UPDATE_TS,
    codec::START_REQUESTED_TS,
    codec::SERVER_IP,
    codec::SERVER_PORT,
    codec::SERVER_INSECURE,
    codec::SERVER_DISABLE,
    codec::SERVER_CONNECTED,
    codec::SERVER_LAST_UPDATE_TS,
    codec::HOSTNAME,
    codec::PLATFORM,
    codec::HWSKU,
    codec::DEVICE_TYPE,
    codec::PENDING_LABELS_FIELD,
];

/// Every value spelling the codec knows.
const KNOWN_VALUES: &[&str] = &[
    codec::OWNER_LOCAL,
    codec::OWNER_KUBE,
    codec::OWNER_NONE,
    codec::MODE_KUBE_PENDING,
    codec::MODE_KUBE_READY,
    codec::MODE_KUBE_RUNNING,
    codec::MODE_KUBE_STOPPED,
    codec::TRUE,
    codec::FALSE,
    "0",
    "1",
    "65535",
    "65536",
    "1700000000.25",
    "0123456789ab",
    "snmp",
    "-1",
    "10.0.0.1",
    "fd00::1",
    "[fd00::1]",
    "1.2.3",
    "master.example",
    "a=b,c-",
];

/// A known spelling with a random mix of upper and lower case and maybe white space around it.
fn mangled_known_value() -> impl Strategy<Value = String> {
    (
        prop::sample::select(KNOWN_VALUES),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(|(v, bits, pad)| {
            let cased: String = v
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if bits >> (i % 64) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            if pad { format!(" {cased}\t") } else { cased }
        })
}

/// Any string, weighted towards the shapes the decoders look at.
fn any_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => mangled_known_value(),
        2 => "[a-zA-Z0-9_.:=,|\\[\\] -]{0,16}",
        2 => ".{0,24}",
        1 => any::<String>(),
    ]
}

fn any_fields() -> impl Strategy<Value = Fields> {
    let name = prop_oneof![
        4 => prop::sample::select(KNOWN_FIELDS).prop_map(str::to_owned),
        1 => ".{0,10}",
    ];
    prop::collection::hash_map(name, any_value(), 0..8)
}

fn to_fields(pairs: Vec<(&'static str, String)>) -> Fields {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A decode error must name the row, a field the decoder reads, and the value it refused.
fn assert_names_key_field_value(e: &codec::DecodeError, key: &str, fields: &Fields) {
    assert_eq!(e.key, key);
    assert!(KNOWN_FIELDS.contains(&e.field.as_str()), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(key), "{msg}");
    assert!(msg.contains(&e.field), "{msg}");
    let raw = fields.get(&e.field).map(|v| v.trim().to_owned());
    assert_eq!(raw.as_deref(), Some(e.value.as_str()), "{msg}");
}

/// What a field holds once white space is trimmed; `None` when absent or empty.
fn trimmed<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn valid_id() -> impl Strategy<Value = ContainerId> {
    prop_oneof!["[0-9a-f]{64}", "[A-Za-z0-9][A-Za-z0-9_.-]{0,39}"]
        .prop_map(|s| ContainerId::new(&s).expect("generated ids are valid"))
}

fn label_name() -> &'static str {
    "[A-Za-z0-9]([A-Za-z0-9_.-]{0,20}[A-Za-z0-9])?"
}

fn valid_key() -> impl Strategy<Value = LabelKey> {
    let prefix = prop_oneof![
        Just(String::new()),
        "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?){0,2}/",
    ];
    (prefix, label_name())
        .prop_map(|(p, n)| LabelKey::new(&format!("{p}{n}")).expect("generated keys are valid"))
}

fn valid_value() -> impl Strategy<Value = LabelValue> {
    prop_oneof![Just(String::new()), label_name().prop_map(|s| s)]
        .prop_map(|v| LabelValue::new(&v).expect("generated values are valid"))
}

fn valid_op() -> impl Strategy<Value = LabelOp> {
    prop_oneof![
        (valid_key(), valid_value()).prop_map(|(k, v)| LabelOp::Add(k, v)),
        valid_key().prop_map(LabelOp::Remove),
    ]
}

fn valid_host() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u32>().prop_map(|a| Ipv4Addr::from(a).to_string()),
        any::<u128>().prop_map(|a| Ipv6Addr::from(a).to_string()),
        any::<u128>().prop_map(|a| format!("[{}]", Ipv6Addr::from(a))),
        "[a-z]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z]([a-z0-9-]{0,10}[a-z0-9])?){0,3}",
    ]
}

fn any_owner() -> impl Strategy<Value = Owner> {
    prop_oneof![Just(Owner::Local), Just(Owner::Kube)]
}

fn any_current_owner() -> impl Strategy<Value = CurrentOwner> {
    prop_oneof![
        Just(CurrentOwner::None),
        Just(CurrentOwner::Local),
        Just(CurrentOwner::Kube)
    ]
}

fn any_mode() -> impl Strategy<Value = TransitionMode> {
    prop::sample::select(TransitionMode::ALL.to_vec())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn scalar_decoders_never_panic_and_read_only_documented_spellings(v in any_value()) {
        let key = "FEATURE|snmp";
        let t = v.trim();
        match codec::parse_bool(key, "fallback_to_local", &v) {
            Ok(b) => prop_assert!(t.eq_ignore_ascii_case(codec::bool_str(b))),
            Err(e) => {
                prop_assert!(!t.eq_ignore_ascii_case("true") && !t.eq_ignore_ascii_case("false"));
                prop_assert_eq!(e.value, v.clone());
            }
        }
        match codec::parse_set_owner(key, Some(&v)) {
            Ok(Owner::Kube) => prop_assert!(t.eq_ignore_ascii_case("kube")),
            Ok(Owner::Local) => prop_assert!(t.is_empty() || t.eq_ignore_ascii_case("local")),
            Err(e) => prop_assert!(e.to_string().contains(key)),
        }
        match codec::parse_current_owner(key, Some(&v)) {
            Ok(o) if t.is_empty() => prop_assert_eq!(o, CurrentOwner::None),
            Ok(o) => prop_assert!(t.eq_ignore_ascii_case(o.as_str())),
            Err(e) => prop_assert_eq!(e.field, codec::CURRENT_OWNER),
        }
        match codec::parse_transition_mode(key, Some(&v)) {
            Ok(m) if t.is_empty() => prop_assert_eq!(m, TransitionMode::None),
            Ok(m) => prop_assert!(t.eq_ignore_ascii_case(m.as_str())),
            Err(e) => prop_assert_eq!(e.field, codec::TRANSITION_MODE),
        }
        let _ = codec::is_valid_host(&v);
    }

    #[test]
    fn feature_config_decoding_is_total_and_never_misreads(fields in any_fields()) {
        let key = "FEATURE|snmp";
        match codec::decode_feature_config(key, &fields) {
            Ok(c) => {
                let owner_kube = trimmed(&fields, codec::SET_OWNER)
                    .is_some_and(|v| v.eq_ignore_ascii_case("kube"));
                prop_assert_eq!(c.set_owner == Owner::Kube, owner_kube);
                let fb = trimmed(&fields, codec::FALLBACK_TO_LOCAL)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                prop_assert_eq!(c.fallback_to_local, fb);
                // What was read encodes back to the same configuration.
                let mut again = to_fields(codec::encode_feature_config(&c));
                if let Some(s) = &c.state {
                    again.insert(codec::FEATURE_STATE.to_owned(), s.clone());
                }
                prop_assert_eq!(codec::decode_feature_config(key, &again), Ok(c));
            }
            Err(e) => assert_names_key_field_value(&e, key, &fields),
        }
    }

    #[test]
    fn feature_record_decoding_is_total_and_stable_under_re_encoding(fields in any_fields()) {
        let key = "FEATURE|snmp";
        match codec::decode_feature_record(key, &fields) {
            Ok(r) => {
                let again = to_fields(codec::encode_feature_record(&r));
                prop_assert_eq!(codec::decode_feature_record(key, &again), Ok(r.clone()));
                // And the state read from it is total too.
                let _ = r.classify();
            }
            Err(e) => assert_names_key_field_value(&e, key, &fields),
        }
    }

    #[test]
    fn server_rows_and_device_metadata_decoding_is_total(fields in any_fields()) {
        let key = "KUBERNETES_MASTER|SERVER";
        match codec::decode_server_config(key, &fields) {
            Ok(c) => {
                let again = to_fields(codec::encode_server_config(&c));
                prop_assert_eq!(codec::decode_server_config(key, &again), Ok(c));
            }
            Err(e) => assert_names_key_field_value(&e, key, &fields),
        }
        match codec::decode_server_status(key, &fields) {
            Ok(s) => {
                let again = to_fields(codec::encode_server_status(&s));
                prop_assert_eq!(codec::decode_server_status(key, &again), Ok(s));
            }
            Err(e) => assert_names_key_field_value(&e, key, &fields),
        }
        let m = codec::decode_device_metadata(&fields);
        if let Some(n) = m.node_name() {
            prop_assert!(!n.is_empty());
            prop_assert_eq!(n.to_ascii_lowercase(), n.clone());
        }
    }

    #[test]
    fn pending_label_lists_decode_totally(v in prop_oneof![
        any_value(),
        prop::collection::vec(any_value(), 0..5).prop_map(|items| items.join(",")),
    ]) {
        let key = "KUBE_SERVER|PENDING_LABELS";
        match codec::decode_pending_labels(key, Some(&v)) {
            Ok(ops) => {
                let again = codec::encode_pending_labels(&ops);
                prop_assert_eq!(codec::decode_pending_labels(key, Some(&again)), Ok(ops));
            }
            Err(e) => {
                prop_assert_eq!(e.field, codec::PENDING_LABELS_FIELD);
                prop_assert!(v.trim().split(',').any(|item| item == e.value));
            }
        }
    }

    #[test]
    fn names_ids_and_label_parsers_never_panic_and_accept_only_their_alphabet(v in any_value()) {
        if let Ok(f) = FeatureName::new(&v) {
            prop_assert!(!v.is_empty() && v.len() <= 32);
            prop_assert!(v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'));
            prop_assert_eq!(f.to_string().parse::<FeatureName>(), Ok(f.clone()));
            prop_assert!(f.enable_label_key().ends_with(codec::ENABLED_LABEL_SUFFIX));
            // The feature's node label key is always a valid Kubernetes label key.
            prop_assert!(LabelKey::new(&f.enable_label_key()).is_ok());
        }
        if let Ok(id) = ContainerId::new(&v) {
            prop_assert!(!v.is_empty() && v.len() <= 128);
            prop_assert!(v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-'));
            prop_assert!(v.starts_with(id.short()));
        }
        if let Ok(k) = LabelKey::new(&v) {
            prop_assert!(!v.contains('=') && !v.contains(','));
            prop_assert_eq!(k.to_string().parse::<LabelKey>(), Ok(k.clone()));
        }
        if let Ok(val) = LabelValue::new(&v) {
            prop_assert!(v.len() <= 63 && !v.contains(',') && !v.contains('='));
            prop_assert_eq!(val.to_string().parse::<LabelValue>(), Ok(val.clone()));
        }
        if let Ok(op) = v.parse::<LabelOp>() {
            prop_assert_eq!(op.to_string().parse::<LabelOp>(), Ok(op.clone()));
        }
    }

    #[test]
    fn feature_records_round_trip_through_the_db_fields(
        current_owner in any_current_owner(),
        docker_id in prop::option::of(valid_id()),
        transition_mode in any_mode(),
        current_owner_update_ts in prop::option::of(any::<u64>()),
        transition_mode_update_ts in prop::option::of(any::<u64>()),
    ) {
        let r = FeatureRecord {
            current_owner,
            current_owner_update_ts,
            docker_id,
            transition_mode,
            transition_mode_update_ts,
            start_requested_ts: transition_mode_update_ts,
        };
        let fields = to_fields(codec::encode_feature_record(&r));
        prop_assert_eq!(codec::decode_feature_record("FEATURE|x", &fields), Ok(r));
    }

    /// The fields of one STATE_DB write (`codec::encode_state_write`, what the adapter HSETs)
    /// over the fields of a record decode as the record with the write applied.
    #[test]
    fn state_writes_encode_to_fields_that_decode_as_the_write_applied(
        current_owner in any_current_owner(),
        docker_id in prop::option::of(valid_id()),
        transition_mode in any_mode(),
        ts in prop::option::of(any::<u64>()),
        owner in prop::option::of((any_current_owner(), prop::option::of(valid_id()))),
        mode in prop::option::of(any_mode()),
        start_requested in prop::option::of(any::<bool>()),
        now in any::<u64>(),
    ) {
        let r = FeatureRecord {
            current_owner,
            current_owner_update_ts: ts,
            docker_id,
            transition_mode,
            transition_mode_update_ts: ts,
            start_requested_ts: ts,
        };
        let w = StateWrite {
            guard: None,
            owner: owner.map(|(owner, docker_id)| OwnerWrite { owner, docker_id }),
            mode,
            start_requested,
            now,
        };
        let feature = FeatureName::new("snmp").expect("a valid name");
        let mut fields = to_fields(codec::encode_feature_record(&r));
        fields.extend(to_fields(codec::encode_state_write(&feature, &w)));
        let mut want = r.clone();
        w.apply(&mut want);
        prop_assert_eq!(codec::decode_feature_record("FEATURE|snmp", &fields), Ok(want));
    }

    #[test]
    fn feature_configs_round_trip_through_the_db_fields(
        set_owner in any_owner(),
        fallback_to_local in any::<bool>(),
        kube_failure_detection_mins in any::<u32>(),
    ) {
        let c = FeatureConfig { set_owner, fallback_to_local, kube_failure_detection_mins, state: None, ..FeatureConfig::default() };
        let fields = to_fields(codec::encode_feature_config(&c));
        prop_assert_eq!(codec::decode_feature_config("FEATURE|x", &fields), Ok(c));
    }

    #[test]
    fn server_config_and_status_round_trip_through_the_db_fields(
        ip in prop::option::of(valid_host()),
        port in 1u16..,
        insecure in any::<bool>(),
        disable in any::<bool>(),
        connected in any::<bool>(),
        last_update_ts in prop::option::of(any::<u64>()),
    ) {
        let c = ServerConfig { ip, port, insecure, disable };
        let fields = to_fields(codec::encode_server_config(&c));
        prop_assert_eq!(codec::decode_server_config("K", &fields), Ok(c));
        let s = ServerStatus { connected, last_update_ts };
        let fields = to_fields(codec::encode_server_status(&s));
        prop_assert_eq!(codec::decode_server_status("K", &fields), Ok(s));
    }

    #[test]
    fn pending_label_lists_round_trip_and_drain_exactly_their_prefix(
        ops in prop::collection::vec(valid_op(), 0..10),
        later in prop::collection::vec(valid_op(), 0..4),
    ) {
        let encoded = codec::encode_pending_labels(&ops);
        prop_assert_eq!(codec::decode_pending_labels("K", Some(&encoded)), Ok(ops.clone()));
        for op in &ops {
            prop_assert_eq!(op.to_string().parse::<LabelOp>(), Ok(op.clone()));
        }
        // One coalesced patch has the same effect as applying the operations one by one.
        let mut one_by_one = BTreeMap::new();
        for op in &ops {
            label::apply(&mut one_by_one, std::slice::from_ref(op));
        }
        let mut patched = BTreeMap::new();
        label::apply(&mut patched, &ops);
        prop_assert_eq!(patched, one_by_one);
        // Draining removes exactly what was read; what was appended meanwhile stays.
        let current: Vec<LabelOp> = ops.iter().chain(&later).cloned().collect();
        prop_assert_eq!(label::remove_prefix(&current, &ops), Some(later.clone()));
    }
}

// ================================================================================================
// Part two: the world simulator
// ================================================================================================

/// What a parked kube container does when `set_owner` turns back to kube.
///
/// DESIGN.md §4 says a parked container "blocks forever (seed: sleep forever)". Taken
/// literally (`false`), invariant 5 fails (see
/// `a_kube_container_parked_while_owner_was_local_takes_over_once_owner_is_kube_again`): a
/// container parked while owner was local keeps the DaemonSet's slot on the node, so once owner
/// is kube again no container ever asks, and the feature stays in KUBE_READY (or LOCAL with
/// fallback) for ever. With `true` (the parked container keeps watching its CONFIG_DB row and
/// asks again, as a waiting one does) every property here holds, bare `set_owner` writes
/// included. The project takes `true` (docs/decisions.md): `container
/// state up kube` keeps watching after Park and asks again when set_owner turns kube.
const PARKED_ASKS_AGAIN_WHEN_OWNER_TURNS_KUBE: bool = true;

/// What a kube-deployed container was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KubeStatus {
    /// Blocks until the mode becomes kube_ready (then asks again) or set_owner turns local.
    Waiting,
    /// Never proceeds; blocks until kubelet stops it (see
    /// [`PARKED_ASKS_AGAIN_WHEN_OWNER_TURNS_KUBE`]).
    Parked,
    /// Proceeded: runs the feature.
    Claimed,
}

#[derive(Debug, Clone)]
struct KubeContainer {
    id: ContainerId,
    status: KubeStatus,
}

/// When the `Down` of a container that our own effects stopped reaches the core: at once
/// (its pre-stop hook races the step that stopped it) or later (its `container wait`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DownTiming {
    Immediate,
    Deferred,
}

/// The feature's world: the STATE_DB record, CONFIG_DB, the containers, the node label and the
/// systemd unit. Effects are executed as the driver would; inputs they cause are fed back.
#[derive(Debug, Clone)]
struct World {
    rec: FeatureRecord,
    cfg: FeatureConfig,
    now: Timestamp,
    /// The local container, when it runs.
    local: Option<ContainerId>,
    /// The DaemonSet's container on this node, when one exists (at most one).
    kube: Option<KubeContainer>,
    /// The node label `<feature>_enabled=true`.
    label: bool,
    /// Whether `systemctl is-active` says active.
    service_active: bool,
    next_id: u32,
    timing: DownTiming,
    /// Kubelet stops the kube container as soon as the label goes (a cooperative kube).
    sync_kubelet: bool,
    deferred_downs: Vec<ContainerId>,
    depth: u32,
    /// What happened, for counterexamples.
    log: Vec<String>,
}

/// Outside events.
#[derive(Debug, Clone)]
enum Ev {
    /// `container start` (systemd ExecStartPre).
    Start,
    /// `container stop` (systemd ExecStop).
    Stop,
    /// `container kill` (reboot scripts).
    Kill,
    /// Kubelet runs the DaemonSet's container (only while the label is on the node); it calls
    /// `container state up kube`.
    KubeDeploy,
    /// Kubelet stops the kube container because the label is gone.
    KubeletReap,
    /// The kube container exits on its own (crash, OOM, manifest update).
    KubeExit,
    /// A kube container asks again (`container state up kube` repeated).
    KubeAsksAgain,
    /// The local container exits on its own.
    LocalExit,
    /// The local container says `container state up local` from inside.
    LocalSaysUp,
    /// hostcfgd approves, with what `systemctl is-active` told it.
    Approve(bool),
    /// Time passes by this many seconds and kube-monit fires FailureTimeout.
    Monit(u32),
    /// CONFIG_DB `set_owner` written directly.
    SetOwner(Owner),
    /// `sonic-kube config feature owner`: set_owner, then systemctl stop and start.
    CliOwner(Owner),
    /// CONFIG_DB `fallback_to_local` written.
    SetFallback(bool),
    /// CONFIG_DB `kube_failure_detection` written.
    SetDetection(u32),
    /// Late `Down`s of containers our effects stopped arrive.
    DeliverDowns,
}

type Outcome<T = ()> = Result<T, String>;

/// What `systemctl is-active` says of a unit that is (or is not) active; this world's unit
/// never fails.
fn activity(active: bool) -> UnitActivity {
    if active {
        UnitActivity::Active
    } else {
        UnitActivity::Inactive
    }
}

impl World {
    fn new(state: State, cfg: FeatureConfig, label: bool, timing: DownTiming) -> Self {
        let mut w = World {
            rec: FeatureRecord::default(),
            cfg,
            now: EARLIER,
            local: None,
            kube: None,
            label,
            service_active: false,
            next_id: 0,
            timing,
            sync_kubelet: false,
            deferred_downs: Vec::new(),
            depth: 0,
            log: Vec::new(),
        };
        let local = matches!(state, State::Local | State::LocalToKube).then(|| w.fresh("l"));
        let kube = match state {
            State::LocalToKube | State::KubePending => Some(KubeStatus::Waiting),
            State::KubeRunning => Some(KubeStatus::Claimed),
            _ => None,
        }
        .map(|status| KubeContainer {
            id: w.fresh("k"),
            status,
        });
        let owner_id = match state.pair().0 {
            CurrentOwner::Local => local.clone(),
            CurrentOwner::Kube => kube.as_ref().map(|k| k.id.clone()),
            CurrentOwner::None => None,
        };
        w.rec = FeatureRecord::of_state(state, owner_id);
        w.rec.current_owner_update_ts = Some(EARLIER);
        w.rec.transition_mode_update_ts = Some(EARLIER);
        w.local = local;
        // A kube container exists only where kubelet saw the label.
        w.label = label || kube.is_some() || matches!(state, State::KubeReady);
        w.kube = kube;
        w.service_active = !matches!(state, State::Init);
        w
    }

    fn fresh(&mut self, prefix: &str) -> ContainerId {
        self.next_id += 1;
        ContainerId::new(&format!("{prefix}{}", self.next_id)).expect("generated ids are valid")
    }

    fn claimed(&self) -> Option<&ContainerId> {
        self.kube
            .as_ref()
            .filter(|k| k.status == KubeStatus::Claimed)
            .map(|k| &k.id)
    }

    fn fail(&self, what: String) -> String {
        format!(
            "{what}\n  record: {:?}\n  config: {:?}\n  local: {:?} kube: {:?} label: {} active: {}\n  log:\n    {}",
            self.rec,
            self.cfg,
            self.local,
            self.kube,
            self.label,
            self.service_active,
            self.log.join("\n    ")
        )
    }

    // ---- the driver ---------------------------------------------------------------------------

    /// Steps one input and executes its effects in order, feeding back what they cause.
    fn feed(&mut self, input: Input) -> Outcome<Option<KubeAnswer>> {
        self.depth += 1;
        let r = if self.depth > 12 {
            Err(self.fail(format!("feedback does not terminate at {input:?}")))
        } else {
            self.feed_inner(input)
        };
        self.depth -= 1;
        r
    }

    fn feed_inner(&mut self, input: Input) -> Outcome<Option<KubeAnswer>> {
        let mut lost_races = 0;
        'step: loop {
            let before = self.rec.clone();
            let s = step(&before, &self.cfg, input.clone(), self.now);
            self.log.push(format!(
                "{}{} {} -> {} {:?} ({:?})",
                "  ".repeat(self.depth as usize - 1),
                before.state(),
                input.name(),
                s.next,
                s.effects,
                s.reason
            ));
            let mut answer = None;
            let mut systemctl_stopped = false;
            let mut job_skipped = false;
            for e in &s.effects {
                match e {
                    Effect::Write(w) => {
                        if let Some(guard) = w.guard
                            && self.rec.transition_mode != guard
                        {
                            // Compare-and-set lost: re-read and re-step, as the driver does.
                            lost_races += 1;
                            if lost_races > CAS_RETRIES {
                                return Err(self.fail(format!("{input:?} keeps losing its CAS")));
                            }
                            continue 'step;
                        }
                        if w.mode == Some(TransitionMode::KubeReady) {
                            // Invariant 1: kube_ready only from a Start with owner kube, or an
                            // approval that followed a Stop.
                            let allowed = match input {
                                Input::Start => self.cfg.set_owner == Owner::Kube,
                                Input::Approve { .. } => systemctl_stopped,
                                _ => false,
                            };
                            if !allowed {
                                return Err(self.fail(format!(
                                    "invariant 1: {input:?} set kube_ready (systemctl stop first: {systemctl_stopped})"
                                )));
                            }
                        }
                        w.apply(&mut self.rec);
                    }
                    Effect::LabelAdd => self.label = true,
                    Effect::LabelRemove => {
                        self.label = false;
                        if self.sync_kubelet {
                            self.kubelet_reap()?;
                        }
                    }
                    Effect::DockerStart => {
                        // docker start on a running container is a no-op that keeps its id.
                        let id = match &self.local {
                            Some(id) => id.clone(),
                            None => {
                                let id = self.fresh("l");
                                self.local = Some(id.clone());
                                id
                            }
                        };
                        self.feed(Input::LocalUp(id))?;
                    }
                    Effect::DockerStop { target, .. } | Effect::DockerKill { target } => {
                        self.docker_stop(target)?;
                    }
                    Effect::AwaitExit { id, .. } => self.docker_stop(&Target::Id(id.clone()))?,
                    Effect::SystemctlResetFailed | Effect::SystemctlResetStartLimit => {}
                    // One job: a restart of the unit only if it is active when it runs.
                    Effect::SystemctlTryRestart => {
                        if self.service_active {
                            systemctl_stopped = true;
                            self.systemctl_stop()?;
                            self.systemctl_start()?;
                        } else {
                            // The caller's look was stale (an operator stopped the unit
                            // meanwhile): systemd ran no job, and `next` did not happen.
                            job_skipped = true;
                        }
                    }
                    Effect::SystemctlStart => self.systemctl_start()?,
                    Effect::Answer(a) => {
                        if answer.is_some() {
                            return Err(self.fail(format!("{input:?} answered twice")));
                        }
                        if *a == KubeAnswer::Proceed {
                            // Invariant 1: proceed only from kube_ready, or to the owner.
                            let Input::KubeUp(id) = &input else {
                                return Err(self.fail(format!("{input:?} answered proceed")));
                            };
                            let recorded_owner = before.current_owner == CurrentOwner::Kube
                                && before.docker_id.as_ref() == Some(id);
                            if before.transition_mode != TransitionMode::KubeReady
                                && !recorded_owner
                            {
                                return Err(self
                                    .fail(format!("invariant 1: {id} proceeds from {before:?}")));
                            }
                        }
                        answer = Some(*a);
                    }
                }
                self.check_one_owner()?;
            }
            if self.rec.state() != s.next && !job_skipped {
                return Err(self.fail(format!(
                    "{input:?} from {} announced {} but its effects led to {}",
                    before.state(),
                    s.next,
                    self.rec.state()
                )));
            }
            return Ok(answer);
        }
    }

    /// A container exits because our effects stopped it: its Down arrives per `timing`.
    fn docker_stop(&mut self, target: &Target) -> Outcome {
        let stopped = match target {
            Target::LocalByName => self.local.take(),
            Target::Id(id) if self.local.as_ref() == Some(id) => self.local.take(),
            Target::Id(id) if self.kube.as_ref().is_some_and(|k| &k.id == id) => {
                self.kube.take().map(|k| k.id)
            }
            Target::Id(_) => None,
        };
        if let Some(id) = stopped {
            match self.timing {
                DownTiming::Immediate => {
                    self.feed(Input::Down(id))?;
                }
                DownTiming::Deferred => self.deferred_downs.push(id),
            }
        }
        Ok(())
    }

    /// Kubelet stops the kube container; its pre-stop hook says Down.
    fn kubelet_reap(&mut self) -> Outcome {
        if let Some(k) = self.kube.take() {
            self.feed(Input::Down(k.id))?;
        }
        Ok(())
    }

    fn systemctl_stop(&mut self) -> Outcome {
        self.service_active = false;
        self.feed(Input::Stop(StopOptions::default()))?;
        Ok(())
    }

    fn systemctl_start(&mut self) -> Outcome {
        self.service_active = true;
        self.feed(Input::Start)?;
        Ok(())
    }

    /// The kube container asks `container state up kube` and does what it is told.
    fn kube_asks(&mut self) -> Outcome {
        let Some(id) = self.kube.as_ref().map(|k| k.id.clone()) else {
            return Ok(());
        };
        let Some(answer) = self.feed(Input::KubeUp(id.clone()))? else {
            return Err(self.fail(format!("KubeUp({id}) got no answer")));
        };
        // A container that already runs the feature keeps running it whatever a repeated
        // question is answered; the others do what they are told.
        if let Some(k) = self
            .kube
            .as_mut()
            .filter(|k| k.id == id && k.status != KubeStatus::Claimed)
        {
            k.status = match answer {
                KubeAnswer::Proceed => KubeStatus::Claimed,
                KubeAnswer::Wait => KubeStatus::Waiting,
                KubeAnswer::Park => KubeStatus::Parked,
            };
        }
        if answer == KubeAnswer::Proceed {
            let recorded = self.rec.current_owner == CurrentOwner::Kube
                && self.rec.docker_id.as_ref() == Some(&id);
            if !recorded {
                return Err(self.fail(format!("{id} proceeded without being recorded")));
            }
        }
        if answer == KubeAnswer::Park && self.cfg.set_owner != Owner::Local {
            return Err(self.fail(format!("{id} parked although owner is kube")));
        }
        self.check_one_owner()
    }

    // ---- the outside world ----------------------------------------------------------------------

    fn event(&mut self, ev: &Ev) -> Outcome {
        self.now += 1;
        self.log.push(format!("== {ev:?}"));
        match ev {
            Ev::Start => {
                self.service_active = true;
                self.feed(Input::Start)?;
            }
            Ev::Stop => {
                self.service_active = false;
                self.feed(Input::Stop(StopOptions::default()))?;
            }
            Ev::Kill => {
                self.service_active = false;
                self.feed(Input::Kill)?;
            }
            Ev::KubeDeploy => {
                if self.label && self.kube.is_none() {
                    let id = self.fresh("k");
                    self.kube = Some(KubeContainer {
                        id,
                        status: KubeStatus::Waiting,
                    });
                    self.kube_asks()?;
                }
            }
            Ev::KubeletReap => {
                if !self.label {
                    self.kubelet_reap()?;
                }
            }
            Ev::KubeExit => {
                if let Some(k) = self.kube.take() {
                    self.feed(Input::Down(k.id))?;
                }
            }
            Ev::KubeAsksAgain => {
                if self
                    .kube
                    .as_ref()
                    .is_some_and(|k| k.status != KubeStatus::Parked)
                {
                    self.kube_asks()?;
                }
            }
            Ev::LocalExit => {
                if let Some(id) = self.local.take() {
                    self.feed(Input::Down(id))?;
                }
            }
            Ev::LocalSaysUp => {
                if let Some(id) = self.local.clone() {
                    self.feed(Input::LocalUp(id))?;
                }
            }
            Ev::Approve(service_active) => {
                self.feed(Input::Approve {
                    unit: activity(*service_active),
                })?;
            }
            Ev::Monit(secs) => {
                self.now += u64::from(*secs);
                self.feed(Input::FailureTimeout {
                    unit: activity(self.service_active),
                })?;
            }
            Ev::SetOwner(o) => self.cfg.set_owner = *o,
            Ev::CliOwner(o) => {
                self.cfg.set_owner = *o;
                self.settle()?;
                self.systemctl_stop()?;
                self.systemctl_start()?;
            }
            Ev::SetFallback(b) => self.cfg.fallback_to_local = *b,
            Ev::SetDetection(n) => self.cfg.kube_failure_detection_mins = *n,
            Ev::DeliverDowns => {
                for id in std::mem::take(&mut self.deferred_downs) {
                    self.feed(Input::Down(id))?;
                }
            }
        }
        self.settle()?;
        self.check_one_owner()?;
        self.check_record_is_the_truth()
    }

    /// A waiting kube container wakes when the mode becomes kube_ready or set_owner turns
    /// local, and asks again; a parked one per [`PARKED_ASKS_AGAIN_WHEN_OWNER_TURNS_KUBE`].
    fn settle(&mut self) -> Outcome {
        for _ in 0..4 {
            let wakes = self.kube.as_ref().is_some_and(|k| match k.status {
                KubeStatus::Waiting => {
                    self.rec.transition_mode == TransitionMode::KubeReady
                        || self.cfg.set_owner == Owner::Local
                }
                KubeStatus::Parked => {
                    PARKED_ASKS_AGAIN_WHEN_OWNER_TURNS_KUBE && self.cfg.set_owner == Owner::Kube
                }
                KubeStatus::Claimed => false,
            });
            if !wakes {
                return Ok(());
            }
            self.kube_asks()?;
        }
        Err(self.fail("a waiting kube container keeps waking".to_owned()))
    }

    // ---- invariants -----------------------------------------------------------------------------

    /// Invariant 2: never a local container and a claimed kube container at the same time.
    fn check_one_owner(&self) -> Outcome {
        if self.local.is_some() && self.claimed().is_some() {
            return Err(self.fail("invariant 2: local and claimed kube run together".to_owned()));
        }
        Ok(())
    }

    /// Invariant 3, in stable states: the record says who runs.
    fn check_record_is_the_truth(&self) -> Outcome {
        let st = self.rec.state();
        if !st.is_stable() {
            return Ok(());
        }
        let r = &self.rec;
        let ok = r.docker_id.is_some() == (r.current_owner != CurrentOwner::None)
            && (r.current_owner == CurrentOwner::Local) == self.local.is_some()
            && (r.current_owner == CurrentOwner::Kube) == self.claimed().is_some()
            && match r.current_owner {
                CurrentOwner::Local => r.docker_id == self.local,
                CurrentOwner::Kube => r.docker_id.as_ref() == self.claimed(),
                CurrentOwner::None => true,
            };
        if ok {
            Ok(())
        } else {
            Err(self.fail(format!("invariant 3 in {st}: the record is not the truth")))
        }
    }

    /// Invariant 4: with owner local, a Stop followed by a Start ends in LOCAL with the local
    /// container running and no kube container claimed.
    fn check_stop_start_with_local_owner_ends_local(&self) -> Outcome {
        if self.cfg.set_owner != Owner::Local {
            return Ok(());
        }
        let mut w = self.clone();
        w.event(&Ev::Stop)?;
        w.event(&Ev::Start)?;
        if w.rec.state() != State::Local || w.local.is_none() || w.claimed().is_some() {
            return Err(w.fail("invariant 4: Stop then Start with owner local".to_owned()));
        }
        Ok(())
    }

    /// Invariant 5, first half: the operator sets owner kube (set_owner, stop, start); kubelet
    /// deploys while the label is on and removes the container as soon as it goes; hostcfgd
    /// approves what is pending. Within a few rounds a kube container runs the feature.
    fn check_kube_deploying_leads_to_kube_running(&self) -> Outcome {
        let mut w = self.clone();
        w.log
            .push("== liveness: owner kube, cooperative kube".to_owned());
        w.sync_kubelet = true;
        w.event(&Ev::DeliverDowns)?;
        w.event(&Ev::CliOwner(Owner::Kube))?;
        for _ in 0..8 {
            if w.rec.state() == State::KubeRunning && w.claimed().is_some() {
                return Ok(());
            }
            w.event(&Ev::KubeletReap)?;
            w.event(&Ev::KubeDeploy)?;
            if approval_pending(&w.rec) {
                let active = w.service_active;
                w.event(&Ev::Approve(active))?;
            }
            w.event(&Ev::DeliverDowns)?;
        }
        Err(w.fail(
            "invariant 5: owner kube with kube deploying never reached KUBE_RUNNING".to_owned(),
        ))
    }

    /// Invariant 5, second half: with fallback, N > 0 and kube never deploying, the operator's
    /// owner kube leads to LOCAL (kube-monit fires at its deadline).
    fn check_kube_never_deploying_falls_back_to_local(&self) -> Outcome {
        let mut w = self.clone();
        w.log
            .push("== liveness: owner kube, fallback, kube never deploys".to_owned());
        w.event(&Ev::KubeExit)?;
        w.event(&Ev::DeliverDowns)?;
        w.cfg.fallback_to_local = true;
        w.cfg.kube_failure_detection_mins = 1;
        w.event(&Ev::CliOwner(Owner::Kube))?;
        for _ in 0..4 {
            if w.rec.state() == State::Local && w.local.is_some() {
                return Ok(());
            }
            let wait = next_deadline(&w.rec, &w.cfg).map_or(0, |d| d.saturating_sub(w.now));
            w.event(&Ev::Monit(u32::try_from(wait).unwrap_or(u32::MAX)))?;
            if approval_pending(&w.rec) {
                let active = w.service_active;
                w.event(&Ev::Approve(active))?;
            }
        }
        Err(w.fail(
            "invariant 5: owner kube with fallback and no kube never reached LOCAL".to_owned(),
        ))
    }
}

fn any_state() -> impl Strategy<Value = State> {
    prop::sample::select(State::ALL.to_vec())
}

fn any_config() -> impl Strategy<Value = FeatureConfig> {
    (
        any_owner(),
        any::<bool>(),
        prop::sample::select(vec![0u32, 1, 5]),
    )
        .prop_map(
            |(set_owner, fallback_to_local, kube_failure_detection_mins)| FeatureConfig {
                set_owner,
                fallback_to_local,
                kube_failure_detection_mins,
                state: None,
                ..FeatureConfig::default()
            },
        )
}

fn any_timing() -> impl Strategy<Value = DownTiming> {
    prop_oneof![Just(DownTiming::Immediate), Just(DownTiming::Deferred)]
}

/// Outside events, weighted towards the everyday ones.
fn any_event() -> impl Strategy<Value = Ev> {
    prop_oneof![
        4 => Just(Ev::Start),
        3 => Just(Ev::Stop),
        1 => Just(Ev::Kill),
        4 => Just(Ev::KubeDeploy),
        2 => Just(Ev::KubeletReap),
        1 => Just(Ev::KubeExit),
        1 => Just(Ev::KubeAsksAgain),
        1 => Just(Ev::LocalExit),
        1 => Just(Ev::LocalSaysUp),
        3 => any::<bool>().prop_map(Ev::Approve),
        2 => prop::sample::select(vec![0u32, 30, 59, 60, 61, 400]).prop_map(Ev::Monit),
        1 => any_owner().prop_map(Ev::SetOwner),
        2 => any_owner().prop_map(Ev::CliOwner),
        1 => any::<bool>().prop_map(Ev::SetFallback),
        1 => prop::sample::select(vec![0u32, 1, 5]).prop_map(Ev::SetDetection),
        1 => Just(Ev::DeliverDowns),
    ]
}

/// Runs `events` from a world and checks every invariant after every event.
fn run(mut w: World, events: &[Ev]) -> Outcome<World> {
    w.check_record_is_the_truth()?;
    w.settle()?;
    for ev in events {
        w.event(ev)?;
        w.check_stop_start_with_local_owner_ends_local()?;
    }
    Ok(w)
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn random_event_sequences_keep_invariants_one_to_four(
        state in any_state(),
        cfg in any_config(),
        label in any::<bool>(),
        timing in any_timing(),
        events in prop::collection::vec(any_event(), 0..40),
    ) {
        let w = World::new(state, cfg, label, timing);
        if let Err(e) = run(w, &events) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn after_random_event_sequences_owner_kube_reaches_kube_running_or_local_with_fallback(
        state in any_state(),
        cfg in any_config(),
        label in any::<bool>(),
        timing in any_timing(),
        events in prop::collection::vec(any_event(), 0..30),
    ) {
        let w = World::new(state, cfg, label, timing);
        let checked = run(w, &events).and_then(|w| {
            w.check_kube_deploying_leads_to_kube_running()?;
            w.check_kube_never_deploying_falls_back_to_local()
        });
        if let Err(e) = checked {
            prop_assert!(false, "{}", e);
        }
    }
}

#[test]
fn a_kube_container_parked_while_owner_was_local_takes_over_once_owner_is_kube_again() {
    // A label left on the node from before a reboot lets kubelet deploy a container while the
    // owner is local: it parks. The service starts and stops (INIT; the label goes: invariant 8).
    let w = World::new(
        State::Init,
        FeatureConfig::new(Owner::Local, false),
        true,
        DownTiming::Immediate,
    );
    let events = [Ev::KubeDeploy, Ev::Start, Ev::Stop];
    let w = run(w, &events).expect("the run keeps invariants 1 to 4");
    assert_eq!(w.rec.state(), State::Init);
    assert!(
        w.kube
            .as_ref()
            .is_some_and(|k| k.status == KubeStatus::Parked),
        "kubelet deployed a container that parked"
    );
    // Owner kube again (set_owner, stop, start) with a cooperative kube: a kube container must
    // end up running the feature (invariant 5).
    if let Err(e) = w.check_kube_deploying_leads_to_kube_running() {
        panic!("{e}");
    }
}

/// Steps `input` from `rec` and carries out its writes as one writer would (the guard of each
/// write must hold: nothing else writes), feeding the LocalUp a `docker start` answers.
fn drive(rec: &mut FeatureRecord, cfg: &FeatureConfig, input: Input) -> Result<(), String> {
    let s = step(rec, cfg, input.clone(), NOW_PROPS);
    for e in s.effects {
        match e {
            Effect::Write(w) => {
                if let Some(g) = w.guard
                    && g != rec.transition_mode
                {
                    return Err(format!(
                        "{input:?}: a write guarded on {g} finds {} although nothing else wrote",
                        rec.transition_mode
                    ));
                }
                w.apply(rec);
            }
            Effect::DockerStart => {
                let id = ContainerId::new("started0").map_err(|e| e.to_string())?;
                drive(rec, cfg, Input::LocalUp(id))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The `now` of the record-healing properties: far after any timestamp they generate.
const NOW_PROPS: Timestamp = 1_800_000_000;

proptest! {
    #![proptest_config(config(2000))]

    /// Issue 8, item 2: from every record that decodes, whatever its fields say, a Stop then a
    /// Start (what `systemctl restart`, and the operator guide's recovery advice, do) end on a
    /// canonical record — no write leaves a record non-canonical (owner included).
    #[test]
    fn stop_then_start_heals_every_decodable_record(
        fields in any_fields(),
        cfg in any_config(),
    ) {
        let Ok(mut rec) = codec::decode_feature_record("FEATURE|x", &fields) else {
            return Ok(());
        };
        let before = rec.clone();
        drive(&mut rec, &cfg, Input::Stop(StopOptions::default()))
            .map_err(TestCaseError::fail)?;
        drive(&mut rec, &cfg, Input::Start).map_err(TestCaseError::fail)?;
        prop_assert!(
            rec.classify().1.is_none(),
            "{before:?} under {cfg:?}: Stop then Start left {rec:?}"
        );
        prop_assert_eq!(rec.start_requested_ts, None, "a Start clears the marker");
    }

    /// Issue 8, item 2: the functions the daemons decide with agree with `step` on every
    /// decodable record: hostcfgd has an approval to carry out exactly when `step` does
    /// something with Approve, and kube-monit has a deadline exactly when `step` takes
    /// FailureTimeout.
    #[test]
    fn approval_pending_and_next_deadline_agree_with_step_on_every_decodable_record(
        fields in any_fields(),
        cfg in any_config(),
    ) {
        let Ok(rec) = codec::decode_feature_record("FEATURE|x", &fields) else {
            return Ok(());
        };
        for unit in [UnitActivity::Active, UnitActivity::Failed] {
            let approve = step(&rec, &cfg, Input::Approve { unit }, NOW_PROPS);
            prop_assert_eq!(
                approval_pending(&rec),
                approve.reason != Reason::ApproveNothingPending,
                "{:?}: approval_pending vs step ({:?})", &rec, approve.reason
            );
            let monit = step(&rec, &cfg, Input::FailureTimeout { unit }, Timestamp::MAX);
            prop_assert_eq!(
                next_deadline(&rec, &cfg).is_some(),
                monit.reason != Reason::FailureNotApplicable,
                "{:?} {:?}: next_deadline vs step ({:?})", &rec, &cfg, monit.reason
            );
        }
    }
}

#[test]
fn the_label_follows_set_owner_local() {
    // Issue 8, item 5: owner kube with fallback runs the local image and adds the label; the
    // operator moves the feature to local (set_owner, stop, start). Wave 1 kept
    // `<f>_enabled=true` on the node for ever (LOCAL | Stop and INIT | Start with owner local
    // left it), so the DaemonSet deployed a pod that parked for ever.
    let w = World::new(
        State::Init,
        FeatureConfig::new(Owner::Kube, true),
        false,
        DownTiming::Immediate,
    );
    let w = run(w, &[Ev::Start]).expect("starts");
    assert!(w.label, "owner kube with fallback adds the label");
    let w = run(w, &[Ev::CliOwner(Owner::Local)]).expect("moves to local");
    assert_eq!(w.rec.state(), State::Local);
    assert!(!w.label, "owner local: the label is gone");
    // And from any state, a Stop or a Start with owner local removes it.
    for state in State::ALL {
        for ev in [Ev::Start, Ev::Stop] {
            let w = World::new(
                state,
                FeatureConfig::new(Owner::Local, false),
                true,
                DownTiming::Immediate,
            );
            let w = run(w, std::slice::from_ref(&ev)).expect("keeps the invariants");
            assert!(!w.label, "{state} {ev:?}: the label outlived owner local");
        }
    }
}

#[test]
fn the_simulator_reaches_every_state_from_init() {
    // A guard against a simulator that cannot fail because it never gets anywhere.
    let mut seen = HashMap::new();
    let script = [
        (Owner::Local, vec![Ev::Start, Ev::Stop]),
        (Owner::Local, vec![Ev::Start]),
        (Owner::Kube, vec![Ev::Start]),
        (Owner::Kube, vec![Ev::Start, Ev::KubeDeploy]),
        (Owner::Kube, vec![Ev::Start, Ev::KubeDeploy, Ev::KubeExit]),
        (Owner::Kube, vec![Ev::SetFallback(true), Ev::Start]),
        (
            Owner::Kube,
            vec![Ev::SetFallback(true), Ev::Start, Ev::KubeDeploy],
        ),
        (Owner::Kube, vec![Ev::KubeDeploy]),
    ];
    for (owner, events) in script {
        let w = World::new(
            State::Init,
            FeatureConfig::new(owner, false),
            true,
            DownTiming::Immediate,
        );
        let w = run(w, &events).expect("the scripted runs keep the invariants");
        seen.insert(w.rec.state(), events.len());
    }
    let mut states: Vec<_> = seen.keys().copied().collect();
    states.sort();
    assert_eq!(states, State::ALL.to_vec());
}
