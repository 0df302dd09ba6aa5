//! Failure fallback: owner kube with fallback and N > 0, Kubernetes never deploys → the local
//! image runs after N (scaled) minutes, counted from STATE_DB's timestamp, also across a
//! restart of kube-monit; N = 0 never falls back. The systemctl simulator's `try-restart` runs
//! the real `container stop` and `container start` against the real Docker Engine.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ctrmgr_core::{
    ContainerId, FeatureConfig, FeatureName, FeatureRecord, Owner, State, Timestamp,
};
use ctrmgr_dockerclient::ContainerSpec;
use ctrmgr_dockerclient::testing::{TRAP_TERM, TestContainer, TestDocker};
use ctrmgr_tests::sim::{SystemdSim, UnitCommands, workspace_binary};

use super::{DEADLINE, Daemon, Monitored};

/// Seconds of one "minute" in these tests.
const MINUTE: u64 = 2;

fn epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

struct Fallback {
    sw: Monitored,
    docker: TestDocker,
    _keep: Vec<TestContainer>,
}

impl Fallback {
    async fn new() -> Option<Self> {
        let docker = TestDocker::ensure()
            .await
            .expect("a docker engine (CTRMGR_REQUIRE_DOCKER=1)")?;
        docker.test_image().await.expect("the busybox test image");
        let extra = serde_json::json!({
            "failure_detection_minute_secs": MINUTE,
            "probe_interval_secs": 60,
        });
        let sw = Monitored::new(&UnitCommands::default(), extra.clone()).await;
        let commands = UnitCommands {
            container: Some(workspace_binary("container")),
            args: sw.fixture.cli_args(),
            env: vec![
                ("DOCKER_HOST".to_owned(), docker.host().to_owned()),
                ("RUST_LOG".to_owned(), "info".to_owned()),
            ],
            restart_pause_secs: None,
        };
        let sw = Monitored {
            systemctl: SystemdSim::create(sw.fixture.dir.path(), &commands),
            ..sw
        };
        sw.write_tunables(extra);
        Some(Self {
            sw,
            docker,
            _keep: Vec::new(),
        })
    }

    /// A feature owned by kube with fallback and `n` minutes, waiting in KUBE_READY since
    /// `since`, its unit active, its local container created (not running).
    async fn waiting_feature(&mut self, n: u32, since: u64) -> (FeatureName, ContainerId) {
        let f = FeatureName::new(&TestDocker::unique_name("fb")).expect("name");
        let db = &self.sw.fixture.db;
        db.set_feature_config(
            &f,
            &FeatureConfig {
                kube_failure_detection_mins: n,
                ..FeatureConfig::new(Owner::Kube, true)
            },
        )
        .await
        .expect("config");
        let mut rec = FeatureRecord::of_state(State::KubeReady, None);
        rec.transition_mode_update_ts = Some(Timestamp::from_secs(since));
        db.set_feature_record(&f, &rec).await.expect("record");
        let image = self.docker.test_image().await.expect("image");
        let mut spec = ContainerSpec::new(image, &TRAP_TERM);
        spec.name = Some(f.as_str().to_owned());
        let c = self.docker.container_with(spec).await.expect("create");
        let id = c.id().clone();
        self._keep.push(c);
        self.sw.systemctl.set_state(f.as_str(), "active");
        (f, id)
    }

    async fn state(&self, f: &FeatureName) -> FeatureRecord {
        self.sw
            .fixture
            .db
            .feature_record(f)
            .await
            .expect("STATE_DB")
    }

    /// Waits for LOCAL; answers the epoch second it was first seen.
    async fn await_local(&self, f: &FeatureName) -> u64 {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let r = self.state(f).await;
            if r.state() == State::Local {
                return epoch();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never LOCAL; last {r:?}; calls {:?}; {}",
                self.sw.systemctl.calls(),
                self.sw.systemctl.unit_log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn kube_never_deploying_falls_back_to_local_after_n_minutes() {
    let Some(mut t) = Fallback::new().await else {
        return;
    };
    let since = epoch();
    let (f, local) = t.waiting_feature(1, since).await;
    let daemon = Daemon::spawn(&t.sw, &[]);

    let seen = t.await_local(&f).await;
    assert!(
        seen >= since + MINUTE,
        "not before the deadline: {seen} < {since} + {MINUTE}"
    );
    let rec = t.state(&f).await;
    assert_eq!(rec.docker_id.as_ref(), Some(&local));
    assert!(t.docker.client().is_running(&local).await.expect("inspect"));
    assert!(
        t.sw.systemctl.calls().contains(&format!("try-restart {f}")),
        "{:?}",
        t.sw.systemctl.calls()
    );
    let (code, log) = daemon.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    assert!(
        log.contains(&format!("ALERT: kube has not run feature {f} for")),
        "{log}"
    );
    assert!(log.contains(" WARN "), "the alert is a warning: {log}");
}

#[tokio::test]
async fn a_restart_of_kube_monit_does_not_restart_the_clock_and_n_zero_never_falls_back() {
    let Some(mut t) = Fallback::new().await else {
        return;
    };
    let since = epoch();
    // N = 3 scaled minutes = 6 s.
    let (f, _local) = t.waiting_feature(3, since).await;
    // N = 0: never, however long it has waited.
    let (never, never_local) = t.waiting_feature(0, since.saturating_sub(10_000)).await;

    let first = Daemon::spawn(&t.sw, &[]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    first.kill9().await;
    assert_eq!(t.state(&f).await.state(), State::KubeReady, "not due yet");
    let second = Daemon::spawn(&t.sw, &[]);

    let seen = t.await_local(&f).await;
    // Counted from STATE_DB's timestamp: due at since + 6, not at the restart + 6 (≥ since + 9).
    assert!(seen >= since + 3 * MINUTE, "early: {seen} vs {since}");
    assert!(
        seen < since + 3 * MINUTE + 3,
        "the clock restarted: {seen} vs {since}"
    );

    assert_eq!(t.state(&never).await.state(), State::KubeReady);
    assert!(
        !t.docker
            .client()
            .is_running(&never_local)
            .await
            .expect("inspect")
    );
    assert!(
        !t.sw
            .systemctl
            .calls()
            .iter()
            .any(|c| c.ends_with(never.as_str())),
        "N=0 is never touched: {:?}",
        t.sw.systemctl.calls()
    );
    let (code, log) = second.terminate().await;
    assert_eq!(code, Some(0), "{log}");
}
