//! 1. Binary sizes.

use super::*;

pub(super) fn sizes(bins: &Bins) -> Section {
    let mut s = Section::new(SIZES_TITLE);
    s.notes.push(
        "Stripped sizes of the dist builds. `container` built without its `kube` feature must \
         link no Kubernetes client (DESIGN.md §2); the target applies to that build."
            .to_owned(),
    );
    let rows: [(&str, &Path, Option<u64>); 5] = [
        (
            "`container --no-default-features` (no kube)",
            &bins.nokube,
            Some(SIZE_TARGET_BYTES),
        ),
        ("`container` (default features: kube)", &bins.kube, None),
        ("`kube-labeler`", &bins.labeler, None),
        ("`hostcfgd-watcher`", &bins.hostcfgd, None),
        ("`kube-monit`", &bins.monit, None),
    ];
    for (what, path, target) in rows {
        let row = match fs::metadata(path) {
            Ok(m) => Row {
                what: what.to_owned(),
                floor: "—".to_owned(),
                ours: mib(m.len()),
                compared: target.map_or_else(
                    || "—".to_owned(),
                    |t| format!("{:.0} % of the target", percent(m.len(), t)),
                ),
                target: target.map_or_else(|| "—".to_owned(), |t| format!("≤ {}", mib(t))),
                met: target.map_or(Met::NotJudged, |t| Met::when(m.len() <= t)),
            },
            Err(e) => {
                s.failed = true;
                Row {
                    what: what.to_owned(),
                    floor: "—".to_owned(),
                    ours: format!("not measured: cannot read {}: {e}", path.display()),
                    compared: "—".to_owned(),
                    target: "—".to_owned(),
                    met: Met::NotJudged,
                }
            }
        };
        s.rows.push(row);
    }
    s
}

/// `part` as a percentage of `whole`.
pub(super) fn percent(part: u64, whole: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)] // sizes far below 2^52
    let v = part as f64 * 100.0 / whole as f64;
    v
}
