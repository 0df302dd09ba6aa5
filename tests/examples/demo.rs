//! `cargo xtask demo`: the switch in a box ([`ctrmgr_tests::world`]) running for real — a
//! redis-server, the HTTPS fake master, the real `container` and `kube-labeler` binaries, the
//! kubelet simulator running pods on the real Docker Engine — telling one story about the
//! feature `snmp` with a live transcript: every change of its STATE_DB record, of the
//! containers that run, of the node's labels and of the pending-label list, as it happens.
//!
//! The story: snmp runs from its local image; the operator switches it to Kubernetes (with
//! fallback: local first, then the DaemonSet's pod after approval); the master is lost while
//! the operator moves it back to local (the label removal is queued, kubelet stopped) and
//! comes back (drained, kubelet started, the pod withdrawn); switched to kube again, the fleet
//! updates the DaemonSet's image (v1 → v2); finally kube is withdrawn and the feature falls
//! back to its local image. The invariant checker watches throughout.
//!
//! Everything is torn down at the end and on Ctrl-C: containers, Redis, the master, the temp
//! directory. Run it through `cargo xtask demo` (which builds the binaries and checks the
//! prerequisites); `cargo xtask demo --model` is the in-process walk-through of the core.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ctrmgr_core::ports::StateStore as _;
use ctrmgr_core::{CurrentOwner, FeatureName, Owner};
use ctrmgr_tests::fakekube::Fault;
use ctrmgr_tests::world::{NAMESPACE, World, kube_running, run_ok};

/// What the transcript shows of the world at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct View {
    state: String,
    owner: String,
    containers: Vec<String>,
    labels: BTreeMap<String, String>,
    pending: Vec<String>,
}

async fn view(w: &World) -> View {
    let r = w.record().await;
    let mut containers = Vec::new();
    if w.local_running().await {
        containers.push(format!("{} (local)", w.f()));
    }
    for c in w.kube_running().await {
        containers.push(format!("{} ({})", short(&c.name), c.image));
    }
    let pending = w
        .fixture
        .db
        .pending_labels()
        .await
        .map(|p| p.iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    View {
        state: r.state().to_string(),
        owner: format!(
            "{}{}",
            match r.current_owner {
                CurrentOwner::None => "none",
                CurrentOwner::Local => "local",
                CurrentOwner::Kube => "kube",
            },
            r.docker_id
                .as_ref()
                .map(|d| format!(" {}", &d.as_str()[..12.min(d.as_str().len())]))
                .unwrap_or_default()
        ),
        containers,
        labels: w.labels(),
        pending,
    }
}

fn short(name: &str) -> String {
    let mut parts = name.splitn(3, '_');
    let a = parts.next().unwrap_or_default();
    let b = parts.next().unwrap_or_default();
    format!("{a}_{b}_…{}", name.rsplit('_').next().unwrap_or_default())
}

struct Transcript {
    start: Instant,
    last: Option<View>,
}

impl Transcript {
    fn say(&self, text: &str) {
        println!("[{:>6.1}s] ── {text}", self.start.elapsed().as_secs_f64());
    }

    async fn observe(&mut self, w: &World) {
        let v = view(w).await;
        if self.last.as_ref() == Some(&v) {
            return;
        }
        let from = self
            .last
            .as_ref()
            .map_or("-", |l| l.state.as_str())
            .to_owned();
        let change = if from == v.state {
            format!("{:<13}(same state)", v.state)
        } else {
            format!("{from} → {}", v.state)
        };
        let labels: Vec<String> = v.labels.iter().map(|(k, x)| format!("{k}={x}")).collect();
        println!(
            "[{:>6.1}s] {}: {change}  owner={}  running=[{}]  labels=[{}]  pending=[{}]",
            self.start.elapsed().as_secs_f64(),
            w.f(),
            v.owner,
            v.containers.join(", "),
            labels.join(", "),
            v.pending.join(", ")
        );
        self.last = Some(v);
    }

    /// Prints every change until `done` holds (bounded).
    async fn until(&mut self, w: &World, what: &str, done: impl AsyncFn(&World) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.observe(w).await;
            if done(w).await {
                self.observe(w).await;
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the demo got stuck waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Prints `sonic-kube show …` as an operator would see it.
async fn show(t: &Transcript, w: &World, args: &[&str]) {
    t.say(&format!("sonic-kube show {}", args.join(" ")));
    let mut full = vec!["show"];
    full.extend_from_slice(args);
    let out = run_ok(w, "sonic-kube", &full).await;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        println!("           {line}");
    }
}

/// The story: a feature's life from boot to stop, each chapter printed as it happens.
async fn story(w: &World) {
    let mut t = Transcript {
        start: Instant::now(),
        last: None,
    };
    let f = w.f().to_owned();
    boot(&mut t, w, &f).await;
    owner_kube(&mut t, w, &f).await;
    master_outage(&mut t, w, &f).await;
    kube_upgrade(&mut t, w, &f).await;
    kube_withdrawn(&mut t, w, &f).await;
}

/// Boot: the daemons, then the feature started locally.
async fn boot(t: &mut Transcript, w: &World, f: &str) {
    t.say(
        "boot: systemd (the simulator) starts kubelet, hostcfgd-watcher, kube-monit, kube-labeler",
    );
    w.start_daemons().await;
    t.say(&format!(
        "boot: {f} is configured set_owner=local; systemctl start {f} (its unit from sonic-kube service install)"
    ));
    w.unit("start").await;
    t.until(w, "local", async |w| {
        w.record().await.current_owner == CurrentOwner::Local
    })
    .await;
    show(t, w, &["feature", "status", f]).await;
}

/// The owner set to kube: hostcfgd-watcher approves the pod.
async fn owner_kube(t: &mut Transcript, w: &World, f: &str) {
    t.say(&format!(
        "operator: owner {f} kube (fallback on) → systemctl restart {f}; hostcfgd-watcher approves the pod"
    ));
    w.set_owner(Owner::Kube, true).await;
    w.unit("restart").await;
    t.until(w, "kube_running", async |w| kube_running(&w.record().await))
        .await;
    show(t, w, &["feature", "status", f]).await;
}

/// The owner set back to local while the master is unreachable; the queued label sent once it is back.
async fn master_outage(t: &mut Transcript, w: &World, f: &str) {
    t.say("the master becomes unreachable");
    w.fixture.fake.set_fault(Fault::Refuse);
    t.say(&format!(
        "operator: owner {f} local → systemctl restart {f}"
    ));
    w.set_owner(Owner::Local, false).await;
    w.unit("restart").await;
    t.until(w, "local with the label queued", async |w| {
        w.record().await.current_owner == CurrentOwner::Local
    })
    .await;
    t.say(&format!(
        "kubelet.service: {} (stopped while a label change is queued)",
        w.systemd.state("kubelet").as_str()
    ));
    show(t, w, &["kubernetes", "status"]).await;
    t.say("the master is back: kube-labeler drain (sends the queue, starts kubelet)");
    w.fixture.fake.set_fault(Fault::None);
    run_ok(w, "kube-labeler", &["drain"]).await;
    t.until(w, "the pod withdrawn", async |w| w.pods().await.is_empty())
        .await;
    t.say(&format!(
        "kubelet.service: {}",
        w.systemd.state("kubelet").as_str()
    ));
}

/// Kube again with failure detection on, then the DaemonSet's image upgraded.
async fn kube_upgrade(t: &mut Transcript, w: &World, f: &str) {
    t.say(&format!(
        "operator: owner {f} kube (fallback on, kube_failure_detection=1 minute, 1 s here) → systemctl restart {f}"
    ));
    let mut cfg = ctrmgr_core::FeatureConfig::new(Owner::Kube, true);
    cfg.kube_failure_detection_mins = 1;
    w.fixture
        .db
        .set_feature_config(&w.feature, &cfg)
        .await
        .expect("write CONFIG_DB FEATURE");
    w.unit("restart").await;
    t.until(w, "kube_running", async |w| kube_running(&w.record().await))
        .await;

    t.say(&format!("fleet: the DaemonSet's image {f}:v1 → {f}:v2"));
    w.fixture
        .fake
        .set_daemonset_image(NAMESPACE, f, &format!("{f}:v2"))
        .expect("update the DaemonSet");
    t.until(w, "v2 running", async |w| {
        kube_running(&w.record().await)
            && w.kube_running()
                .await
                .iter()
                .any(|c| c.image.ends_with(":v2"))
    })
    .await;
    show(t, w, &["feature", "status", f]).await;
}

/// The DaemonSet deleted: kube-monit falls back to local; then the feature stopped.
async fn kube_withdrawn(t: &mut Transcript, w: &World, f: &str) {
    t.say(
        "fleet: kube withdrawn (the DaemonSet is deleted); kube-monit falls back after the minute",
    );
    w.fixture.fake.delete_daemonset(NAMESPACE, f);
    t.until(w, "local after the failure fallback", async |w| {
        w.record().await.current_owner == CurrentOwner::Local && w.pods().await.is_empty()
    })
    .await;
    t.say(&format!(
        "kube-monit's \"failure fallback\" in the units' journal: {}",
        w.systemd.journal().contains("failure fallback")
    ));
    show(t, w, &["feature", "status", f]).await;
    show(t, w, &["kubernetes", "status"]).await;
    t.say(&format!("systemctl stop {f}"));
    w.unit("stop").await;
    t.until(w, "stopped", async |w| {
        w.record().await.current_owner == CurrentOwner::None
    })
    .await;
    if let Some(c) = &w.checker {
        t.say(&format!(
            "invariant checker: {} violation(s)",
            c.violations().len()
        ));
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let feature = FeatureName::new("snmp").expect("a feature name");
    println!(
        "switch in a box: redis-server, fake master (HTTPS), kubelet simulator, systemd simulator, daemons, Docker"
    );
    let w = World::with_names(
        feature,
        "sonic".to_owned(),
        Owner::Local,
        false,
        Duration::from_millis(500),
    )
    .await;
    let outcome = tokio::select! {
        () = story(&w) => Ok(()),
        r = tokio::signal::ctrl_c() => Err(r),
    };
    let clean = w.checker.as_ref().is_none_or(|c| c.violations().is_empty());
    println!(
        "tearing down: units and daemons, pods, the local container, Redis, the master, the temp dir"
    );
    w.finish().await;
    match outcome {
        Ok(()) if clean => {
            println!("done");
            std::process::ExitCode::SUCCESS
        }
        Ok(()) => std::process::ExitCode::FAILURE,
        Err(_) => {
            println!("interrupted");
            std::process::ExitCode::from(130)
        }
    }
}
