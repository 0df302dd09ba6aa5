//! 8. What cannot be measured yet.

use super::*;

pub(super) fn not_measured(root: &Path) -> Section {
    let mut s = Section::new("Not measured yet");
    s.notes.push(
        "Targets of DESIGN.md §10 whose programs do not exist yet. No figure is given for them."
            .to_owned(),
    );
    // The daemons' rows are measured in their own section once their binaries exist.
    let exists = |bin: &str| root.join("bins").join(bin).join("Cargo.toml").exists();
    let reason = |bin: &str| format!("not measured: {bin} not built yet");
    let rows = [
        (
            "hostcfgd-watcher reacts to kube_pending (HSET → first systemctl call)",
            "hostcfgd-watcher",
            "≤ 5 ms p99",
        ),
        ("hostcfgd-watcher idle wake-ups", "hostcfgd-watcher", "0/s"),
        (
            "kube-monit idle wake-ups between deadlines",
            "kube-monit",
            "0/s",
        ),
    ];
    for (what, bin, target) in rows {
        if exists(bin) {
            continue;
        }
        s.rows.push(Row {
            what: what.to_owned(),
            floor: "—".to_owned(),
            ours: reason(bin),
            compared: "—".to_owned(),
            target: target.to_owned(),
            met: Met::NotJudged,
        });
    }
    s
}
