//! kube-monit's deadlines: how they are computed, and which clock fires them.

use super::*;
use ctrmgr_core::{CurrentOwner, Owner, TransitionMode};

fn armed(n: u32) -> FeatureConfig {
    FeatureConfig {
        kube_failure_detection_mins: n,
        ..FeatureConfig::new(Owner::Kube, true)
    }
}

fn waiting(mode: TransitionMode, ts: u64) -> FeatureRecord {
    FeatureRecord {
        current_owner: CurrentOwner::None,
        transition_mode: mode,
        transition_mode_update_ts: Some(Timestamp::from_secs(ts)),
        ..FeatureRecord::default()
    }
}

#[test]
fn the_deadline_counts_scaled_minutes_from_the_recorded_timestamp() {
    let rec = waiting(TransitionMode::KubeReady, 1_000);
    assert_eq!(
        deadline(&rec, &armed(3), 60),
        Some(Timestamp::from_secs(1_180))
    );
    assert_eq!(
        deadline(&rec, &armed(3), 1),
        Some(Timestamp::from_secs(1_003))
    );
    let stopped = waiting(TransitionMode::KubeStopped, 1_000);
    assert_eq!(
        deadline(&stopped, &armed(2), 60),
        Some(Timestamp::from_secs(1_120))
    );
}

#[test]
fn no_deadline_when_detection_is_off_or_nothing_waits_for_kube() {
    let rec = waiting(TransitionMode::KubeReady, 1_000);
    assert_eq!(deadline(&rec, &armed(0), 60), None, "N=0 never falls back");
    let no_fb = FeatureConfig {
        kube_failure_detection_mins: 3,
        ..FeatureConfig::new(Owner::Kube, false)
    };
    assert_eq!(deadline(&rec, &no_fb, 60), None);
    let pending = waiting(TransitionMode::KubePending, 1_000);
    assert_eq!(
        deadline(&pending, &armed(3), 60),
        None,
        "a container waits for approval"
    );
}

// ---- which clock fires a deadline (issue 8, item 8) ---------------------------------------

use crate::testing::*;
use crate::{FeatureOptions, LabelOptions, LabelService, LockDir, WallClock};

/// A master nobody asks: these tests never probe.
struct NoMaster;

impl Master for NoMaster {
    type Error = FakeError;
    async fn fetch_admin_conf(
        &self,
        _: &str,
        _: Option<&std::path::Path>,
        _: bool,
        _: Duration,
    ) -> Result<String, FakeError> {
        unused()
    }
    fn check_kubeconfig(&self, _: &str) -> Result<String, FakeError> {
        unused()
    }
    async fn probe(&self) -> Result<(), FakeError> {
        unused()
    }
}

type Driver = FeatureDriver<FakeStore, FakeEngine, FakeMaster, FakeUnits>;

/// `snmp` owned by kube with fallback and N = 2 minutes of one second, waiting in KUBE_READY
/// since the wall clock's now: its deadline is 2 s away.
fn waiting_switch(dir: &std::path::Path, clock: WallClock) -> (Driver, FakeStore, FakeUnits) {
    let now = clock.now().secs();
    let store = FakeStore::new(Some(armed(2)), waiting(TransitionMode::KubeReady, now));
    let units = FakeUnits::default();
    let labels = LabelService::new(
        store.clone(),
        FakeMaster::new(MasterMode::Up),
        units.clone(),
        LabelOptions::default(),
    );
    let options = FeatureOptions {
        minute_secs: 1,
        clock,
        ..FeatureOptions::default()
    };
    let driver = FeatureDriver::new(labels, FakeEngine::new(), LockDir::new(dir), options);
    (driver, store, units)
}

fn options() -> MonitOptions {
    MonitOptions {
        probe_interval: Duration::from_secs(3600),
        minute_secs: 1,
        kubelet_unit: "kubelet".to_owned(),
    }
}

fn snmp() -> FeatureName {
    FeatureName::new("snmp").expect("valid name")
}

/// Whether kube-monit fed a FailureTimeout that restarted the unit.
fn fell_back(units: &FakeUnits) -> bool {
    units.calls().iter().any(|c| c == "try-restart snmp")
}

#[tokio::test]
async fn a_wall_clock_step_after_arming_neither_fires_a_deadline_early_nor_delays_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = WallClock::steppable();
    let (driver, _store, units) = waiting_switch(dir.path(), clock);
    let options = options();
    let monit = Monit {
        driver: &driver,
        master: &NoMaster,
        options: &options,
    };
    let mut deadlines = Deadlines::default();
    let armed_at = Instant::now();
    monit.refresh(&mut deadlines, &snmp()).await;
    let fires_at = deadlines.next().expect("armed");
    assert!(fires_at >= armed_at + Duration::from_secs(1), "2 s away");

    // NTP steps the clock forward by three hours: nothing is due yet.
    clock.step(3 * 3600);
    monit.fire_due(&mut deadlines).await;
    assert!(
        !fell_back(&units),
        "fired early on a wall-clock step: {:?}",
        units.calls()
    );
    // A change of the row that leaves its deadline as it was keeps the armed instant.
    monit.refresh(&mut deadlines, &snmp()).await;
    assert_eq!(deadlines.next(), Some(fires_at));
    tokio::time::sleep_until(fires_at - Duration::from_millis(300)).await;
    monit.fire_due(&mut deadlines).await;
    assert!(!fell_back(&units), "{:?}", units.calls());

    // On time, by the monotonic clock.
    tokio::time::sleep_until(fires_at).await;
    monit.fire_due(&mut deadlines).await;
    assert!(fell_back(&units), "never fired: {:?}", units.calls());
    assert!(armed_at.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_restart_after_a_wall_clock_step_reads_the_deadline_again_by_the_new_clock() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = WallClock::steppable();
    let (driver, _store, units) = waiting_switch(dir.path(), clock);
    clock.step(3 * 3600);
    let options = options();
    // A kube-monit started after the step: STATE_DB's deadline is three hours past.
    let monit = Monit {
        driver: &driver,
        master: &NoMaster,
        options: &options,
    };
    let mut deadlines = Deadlines::default();
    monit.refresh(&mut deadlines, &snmp()).await;
    let fires_at = deadlines.next().expect("armed");
    assert!(fires_at <= Instant::now(), "due at once");
    monit.fire_due(&mut deadlines).await;
    assert!(fell_back(&units), "{:?}", units.calls());
}
