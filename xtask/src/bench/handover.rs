//! 7. Handover downtime in the switch in a box.

use super::*;

pub(super) fn handover_section(root: &Path) -> Result<Section> {
    let mut s = Section::new(HANDOVER_TITLE);
    s.notes.push(format!(
        "`tests/examples/bench_handover.rs`, release builds of it and of `container`: the \
         switch in a box (redis-server, fake API server, the kubelet simulator's pod parked in \
         the real `container state up kube` on the Docker Engine). local → kube: from the local \
         container's exit (Docker's `FinishedAt`) to STATE_DB saying KUBE_RUNNING (read every \
         millisecond), the approval being the unit's `container stop` then `container start` \
         (what hostcfgd-watcher's `systemctl try-restart` runs), so two process starts are \
         inside the figure. kube → local: from the pod container's exit (Docker's wait \
         returning) to the local container's `StartedAt`, through `container stop` (which \
         waits for the pod to go) and `container start`. The engine's own stop time is outside \
         both figures. No floor. {HANDOVER_RUNS} cycles."
    ));
    let mut build = cmd::cargo(root);
    build.args([
        "build",
        "--release",
        "-p",
        "container-cmd",
        "-p",
        "kube-labeler",
    ]);
    cmd::run(&mut build)?;
    let mut run = cmd::cargo(root);
    run.args([
        "run",
        "--release",
        "--package",
        "ctrmgr-tests",
        "--example",
        "bench_handover",
        "--",
        "--iterations",
        &HANDOVER_RUNS.to_string(),
    ]);
    run.env("CTRMGR_REQUIRE_DOCKER", "1");
    let text = example_output(&mut run)?;
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("BENCH handover "))
        .context("bench_handover printed no BENCH line")?;
    let micros = |name: &str| -> Result<Vec<Duration>> {
        line.split(' ')
            .find_map(|w| w.strip_prefix(name).and_then(|w| w.strip_prefix('=')))
            .with_context(|| format!("bench_handover's line has no {name}: {line}"))?
            .split(',')
            .map(|v| {
                v.parse::<u64>()
                    .map(Duration::from_micros)
                    .with_context(|| format!("bench_handover's {name} has {v:?}"))
            })
            .collect()
    };
    for (name, what) in [
        (
            "l2k_us",
            "local → kube: local exit → kube container proceeding",
        ),
        (
            "k2l_us",
            "kube → local: kube exit → local container running",
        ),
    ] {
        let o = Stats::of(&micros(name)?)?;
        s.rows.push(Row {
            what: format!("{what} ({} runs)", o.runs),
            floor: "—".to_owned(),
            ours: o.show(),
            compared: "—".to_owned(),
            target: format!("≤ {}", ms(HANDOVER_TARGET)),
            met: Met::when(o.median <= HANDOVER_TARGET),
        });
    }
    Ok(s)
}
