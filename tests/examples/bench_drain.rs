//! Benchmark for `cargo xtask bench` (DESIGN.md §10): draining 10,000 pending label operations
//! against the fake API server, with every other part real: [`LabelService`] over [`SonicDb`]
//! (a real redis-server), [`KubeClient`] (kube-rs over HTTPS to [`FakeKube`]) and [`Systemctl`]
//! running `true` in place of `systemctl` (a drain that empties the list starts kubelet).
//!
//! Two cases: 10,000 operations on 100 keys (`<feature>_enabled` of 100 features, added and
//! removed in turn: a master that was away while features were restarted), and 10,000
//! operations on 10,000 distinct keys (the largest patch a drain of that many can send).
//! Each iteration appends the operations to STATE_DB (not timed), drains (timed), then checks
//! that the list is empty and the node carries exactly the coalesced labels. The floor is the
//! irreducible part of a drain: one merge patch with the same number of keys through the same
//! client, timed in the same iteration.
//!
//! Output, one line per case, for `cargo xtask bench` to parse:
//!
//! ```text
//! BENCH drain case=<name> ops=<n> keys=<k> ours_us=<t1>,<t2>,… floor_us=<t1>,<t2>,…
//! ```
//!
//! Run: `cargo run --release -p ctrmgr-tests --example bench_drain -- [--iterations N]`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use ctrmgr_core::LabelOp;
use ctrmgr_core::label::coalesce;
use ctrmgr_core::ports::StateStore as _;
use ctrmgr_dbclient::SonicDb;
use ctrmgr_dbclient::testing::TestRedis;
use ctrmgr_driver::{LabelOptions, LabelService, Systemctl};
use ctrmgr_kubeclient::{KubeClient, KubeOptions};
use ctrmgr_tests::fakekube::FakeKube;

/// The node the operations label.
const NODE: &str = "sonic-bench";
/// Operations per drain (DESIGN.md §10).
const OPS: usize = 10_000;
/// Iterations per case unless `--iterations` says otherwise.
const DEFAULT_ITERATIONS: usize = 30;
/// Bound of one patch; far above what a drain takes, so that it never decides the outcome.
const LABEL_TIMEOUT: Duration = Duration::from_secs(30);

/// One shape of pending list.
#[derive(Debug, Clone, Copy)]
struct Case {
    name: &'static str,
    keys: usize,
}

const CASES: [Case; 2] = [
    Case {
        name: "100-keys",
        keys: 100,
    },
    Case {
        name: "10000-keys",
        keys: OPS,
    },
];

type Service = LabelService<SonicDb, KubeClient, Systemctl>;

#[tokio::main]
async fn main() -> Result<()> {
    let iterations = iterations_from_args()?;
    let redis = TestRedis::start().context("cannot start redis-server")?;
    let db = redis
        .connect()
        .await
        .context("cannot connect to redis-server")?;
    let fake = FakeKube::start()
        .await
        .context("cannot start the fake API server")?;
    fake.add_node(NODE, BTreeMap::new());
    let dir = tempfile::tempdir().context("cannot create a temp dir")?;
    let kubeconfig = dir.path().join("kubeconfig");
    fake.write_kubeconfig(&kubeconfig)
        .context("cannot write the kubeconfig")?;
    let options = KubeOptions {
        kubeconfig,
        timeout: LABEL_TIMEOUT,
    };
    let service = LabelService::new(
        db,
        KubeClient::new(options.clone(), NODE),
        Systemctl::new("true"),
        LabelOptions {
            timeout: LABEL_TIMEOUT,
            kubelet_unit: "kubelet".to_owned(),
            locks: None,
        },
    );
    // The floor's client: the same kube-rs client, built apart so that neither warms the other.
    let floor = KubeClient::new(options, NODE);

    for case in CASES {
        // Warm-up, not reported: builds both clients (kubeconfig, TLS) and fills the node.
        drain_once(&service, &fake, &operations(case, 0)?).await?;
        patch_once(&floor, &fake, &operations(case, 1)?).await?;
        let mut ours = Vec::with_capacity(iterations);
        let mut floors = Vec::with_capacity(iterations);
        for i in 1..=iterations {
            // Even and odd iterations leave opposite final values, so that every drain and
            // every floor patch changes the node's labels.
            ours.push(drain_once(&service, &fake, &operations(case, 2 * i)?).await?);
            floors.push(patch_once(&floor, &fake, &operations(case, 2 * i + 1)?).await?);
        }
        println!(
            "BENCH drain case={} ops={OPS} keys={} ours_us={} floor_us={}",
            case.name,
            case.keys,
            join_micros(&ours),
            join_micros(&floors)
        );
    }
    Ok(())
}

/// `--iterations N`, or the default.
fn iterations_from_args() -> Result<usize> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => Ok(DEFAULT_ITERATIONS),
        [flag, n] if flag == "--iterations" => {
            let n: usize = n
                .parse()
                .with_context(|| format!("--iterations wants a positive integer, not {n:?}"))?;
            ensure!(n > 0, "--iterations wants a positive integer, not 0");
            Ok(n)
        }
        other => bail!("usage: bench_drain [--iterations N]; got {other:?}"),
    }
}

/// The pending list of iteration `round`: [`OPS`] operations over `case.keys` keys, each key
/// added and removed in turn, ending added in even rounds and removed in odd ones.
fn operations(case: Case, round: usize) -> Result<Vec<LabelOp>> {
    // The last operation on a key is in pass `last_pass`, so the final value alternates with
    // `round`.
    let last_pass = (OPS - 1) / case.keys;
    (0..OPS)
        .map(|j| {
            let key = format!("bench{}_enabled", j % case.keys);
            let pass = j / case.keys;
            let op = if (pass + last_pass + round).is_multiple_of(2) {
                LabelOp::add(&key, "true")
            } else {
                LabelOp::remove(&key)
            };
            op.with_context(|| format!("bad benchmark label key {key}"))
        })
        .collect()
}

/// Appends `ops` to the pending list, drains it (timed), and checks the outcome.
async fn drain_once(service: &Service, fake: &FakeKube, ops: &[LabelOp]) -> Result<Duration> {
    service
        .store()
        .append_pending_labels(ops)
        .await
        .context("cannot seed the pending list")?;
    let started = Instant::now();
    let drained = service.drain().await.context("the drain failed")?;
    let took = started.elapsed();
    ensure!(
        drained.drained == OPS && drained.removed && drained.remaining == 0,
        "the drain did not take the whole list: {drained:?}"
    );
    let left = service
        .store()
        .pending_labels()
        .await
        .context("cannot read the pending list")?;
    ensure!(left.is_empty(), "{} operations still pending", left.len());
    check_node(fake, ops)?;
    Ok(took)
}

/// One merge patch with the final value of every key of `ops` (timed), and its check.
async fn patch_once(client: &KubeClient, fake: &FakeKube, ops: &[LabelOp]) -> Result<Duration> {
    let patch = coalesce(ops);
    let started = Instant::now();
    client
        .patch_node_labels(&patch)
        .await
        .context("the floor's patch failed")?;
    let took = started.elapsed();
    check_node(fake, ops)?;
    Ok(took)
}

/// The node carries exactly the labels `ops` leave.
fn check_node(fake: &FakeKube, ops: &[LabelOp]) -> Result<()> {
    let mut want = BTreeMap::new();
    ctrmgr_core::label::apply(&mut want, ops);
    let have = fake.node_labels(NODE).context("the node disappeared")?;
    ensure!(
        have == want,
        "the node has {} labels, the operations leave {}",
        have.len(),
        want.len()
    );
    Ok(())
}

/// Microseconds, comma-separated.
fn join_micros(samples: &[Duration]) -> String {
    samples
        .iter()
        .map(|d| d.as_micros().to_string())
        .collect::<Vec<_>>()
        .join(",")
}
