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
use ctrmgr_core::{CurrentOwner, FeatureName, Owner, TransitionMode};
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

async fn story(w: &World) {
    let mut t = Transcript {
        start: Instant::now(),
        last: None,
    };
    let f = w.f().to_owned();
    t.say(&format!(
        "boot: {f} is configured set_owner=local; systemd starts its unit (container start {f})"
    ));
    w.container(&["start", &f]).await;
    t.until(w, "local", async |w| {
        w.record().await.current_owner == CurrentOwner::Local
    })
    .await;

    t.say(&format!(
        "operator: sonic-kube config feature owner {f} kube (fallback on) → systemctl restart {f}"
    ));
    w.set_owner(Owner::Kube, true).await;
    w.container(&["stop", &f]).await;
    w.container(&["start", &f]).await;
    t.until(w, "the pod waiting for approval", async |w| {
        w.record().await.transition_mode == TransitionMode::KubePending
            && !w.kube_running().await.is_empty()
    })
    .await;
    t.say("hostcfgd's approval: systemctl try-restart (container stop; container start)");
    w.container(&["stop", &f]).await;
    w.container(&["start", &f]).await;
    t.until(w, "kube_running", async |w| kube_running(&w.record().await))
        .await;

    t.say("the master becomes unreachable");
    w.fixture.fake.set_fault(Fault::Refuse);
    t.say(&format!(
        "operator: sonic-kube config feature owner {f} local → systemctl restart {f}"
    ));
    w.set_owner(Owner::Local, false).await;
    w.container(&["stop", &f]).await;
    w.container(&["start", &f]).await;
    t.until(w, "local with the label queued", async |w| {
        w.record().await.current_owner == CurrentOwner::Local
    })
    .await;
    t.say(&format!(
        "systemctl calls so far: {}",
        w.fixture.systemctl.calls().join("; ")
    ));
    t.say("the master is back: kube-labeler drain (sends the queue, starts kubelet)");
    w.fixture.fake.set_fault(Fault::None);
    run_ok(w, "kube-labeler", &["drain"]).await;
    if let Some(k) = &w.kubelet {
        k.poke();
    }
    t.until(w, "the pod withdrawn", async |w| w.pods().await.is_empty())
        .await;

    t.say(&format!(
        "operator: owner {f} kube again (without fallback) → systemctl restart {f}"
    ));
    w.set_owner(Owner::Kube, false).await;
    w.container(&["stop", &f]).await;
    w.container(&["start", &f]).await;
    t.until(w, "kube_running", async |w| kube_running(&w.record().await))
        .await;

    t.say(&format!("fleet: the DaemonSet's image {f}:v1 → {f}:v2"));
    w.fixture
        .fake
        .set_daemonset_image(NAMESPACE, &f, &format!("{f}:v2"))
        .expect("update the DaemonSet");
    t.until(w, "v2 waiting for approval", async |w| {
        w.record().await.transition_mode == TransitionMode::KubePending
    })
    .await;
    t.say("approval (container start approves the waiting v2 in place)");
    w.container(&["start", &f]).await;
    t.until(w, "v2 running", async |w| kube_running(&w.record().await))
        .await;

    t.say(&format!(
        "kube withdrawn: operator sets owner {f} local → systemctl restart {f}"
    ));
    w.set_owner(Owner::Local, false).await;
    w.container(&["stop", &f]).await;
    w.container(&["start", &f]).await;
    t.until(w, "local", async |w| {
        w.record().await.current_owner == CurrentOwner::Local && w.pods().await.is_empty()
    })
    .await;
    t.say(&format!("systemctl stop {f}"));
    w.container(&["stop", &f]).await;
    t.until(w, "init", async |w| {
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
    println!("switch in a box: redis-server, fake master (HTTPS), kubelet simulator, Docker");
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
    println!("tearing down: pods, the local container, Redis, the master, the temp dir");
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
