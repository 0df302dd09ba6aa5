//! 6. The pending-label drain.

use super::*;

pub(super) fn drain_section(root: &Path) -> Result<Section> {
    let mut s = Section::new(DRAIN_TITLE);
    s.notes.push(format!(
        "`tests/examples/bench_drain.rs`, release build: 10,000 operations appended to STATE_DB \
         `KUBE_SERVER|PENDING_LABELS` (untimed), then one `LabelService::drain` (timed): read \
         the list, coalesce, one merge patch through kube-rs over HTTPS to the fake API server \
         (in the same process), remove the drained prefix atomically, start kubelet (`true`), \
         re-read the list; each run checks the list is empty and the node has exactly the \
         coalesced labels. The floor is the irreducible part: one merge patch with the same \
         keys through the same client. {DRAIN_RUNS} runs per case."
    ));
    let mut run = cmd::cargo(root);
    run.args([
        "run",
        "--release",
        "--package",
        "ctrmgr-tests",
        "--example",
        "bench_drain",
        "--",
        "--iterations",
        &DRAIN_RUNS.to_string(),
    ]);
    let text = example_output(&mut run)?;
    let mut cases = 0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("BENCH drain ") else {
            continue;
        };
        let field = |name: &str| -> Result<&str> {
            rest.split(' ')
                .find_map(|w| w.strip_prefix(name).and_then(|w| w.strip_prefix('=')))
                .with_context(|| format!("bench_drain's line has no {name}: {line}"))
        };
        let micros = |name: &str| -> Result<Vec<Duration>> {
            field(name)?
                .split(',')
                .map(|v| {
                    v.parse::<u64>()
                        .map(Duration::from_micros)
                        .with_context(|| format!("bench_drain's {name} has {v:?}"))
                })
                .collect()
        };
        let (o, f) = (
            Stats::of(&micros("ours_us")?)?,
            Stats::of(&micros("floor_us")?)?,
        );
        s.rows.push(Row {
            what: format!(
                "drain {} operations on {} keys ({} runs)",
                field("ops")?,
                field("keys")?,
                o.runs
            ),
            floor: f.show(),
            ours: o.show(),
            compared: format!(
                "{} ({:.2}×)",
                signed_ms(o.median, f.median),
                ratio(o.median, f.median)
            ),
            target: format!("≤ {}", ms(DRAIN_TARGET)),
            met: Met::when(o.median <= DRAIN_TARGET),
        });
        cases += 1;
    }
    ensure!(cases > 0, "bench_drain printed no BENCH line");
    Ok(s)
}
