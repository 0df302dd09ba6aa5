//! 4. `container wait` resident memory and idle wake-ups.

use super::*;

/// What `/proc/<pid>/status` says about memory, in bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Memory {
    pub(super) rss: u64,
    pub(super) hwm: u64,
    /// The part of `rss` that is the process's own (heap, stacks, written data).
    pub(super) anon: u64,
    /// The part of `rss` mapped from files (the binary's and libraries' pages).
    pub(super) file: u64,
    /// The proportional share: pages shared with other processes count a fraction each.
    pub(super) pss: u64,
}

/// VmRSS (with its anonymous and file parts) and VmHWM of a process, from
/// `/proc/<pid>/status`, and its Pss from `/proc/<pid>/smaps_rollup`.
pub(super) fn memory(pid: u32) -> Result<Memory> {
    let read = |name: &str| -> Result<(String, String)> {
        let path = format!("/proc/{pid}/{name}");
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        Ok((path, text))
    };
    let status = read("status")?;
    let rollup = read("smaps_rollup")?;
    let kib = |(path, text): &(String, String), field: &str| -> Result<u64> {
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .with_context(|| format!("{path} has no {field}"))?;
        let n = line.trim().trim_end_matches("kB").trim();
        let n: u64 = n
            .parse()
            .with_context(|| format!("{path}: {field} {n:?} is not a number"))?;
        Ok(n * 1024)
    };
    Ok(Memory {
        rss: kib(&status, "VmRSS:")?,
        hwm: kib(&status, "VmHWM:")?,
        anon: kib(&status, "RssAnon:")?,
        file: kib(&status, "RssFile:")?,
        pss: kib(&rollup, "Pss:")?,
    })
}

/// Context switches of every thread of a process so far: each is a wake-up.
pub(super) fn wakeups(pid: u32) -> Result<u64> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0;
    for task in fs::read_dir(&dir).with_context(|| format!("cannot read {dir}"))? {
        let status = task
            .with_context(|| format!("cannot read {dir}"))?
            .path()
            .join("status");
        // A thread that ended meanwhile has nothing more to count.
        let Ok(text) = fs::read_to_string(&status) else {
            continue;
        };
        for field in ["voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"] {
            if let Some(v) = text.lines().find_map(|l| l.strip_prefix(field)) {
                total += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(total)
}

/// Waits until `child` is blocked: asleep, with resident memory unchanged over half a second.
/// Polls, because no event says "this other process is now blocked"; this is tooling.
pub(super) fn wait_until_blocked(child: &mut Child, what: &str) -> Result<()> {
    let pid = child.id();
    let deadline = Instant::now() + DEADLINE;
    let mut last = None;
    let mut steady = 0;
    while steady < 5 {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("{what} exited ({status}) instead of blocking");
        }
        ensure!(
            Instant::now() < deadline,
            "{what} did not block within {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let asleep = status
            .lines()
            .find_map(|l| l.strip_prefix("State:"))
            .is_some_and(|s| s.trim_start().starts_with('S'));
        let rss = memory(pid).ok().map(|m| m.rss);
        if asleep && rss.is_some() && rss == last {
            steady += 1;
        } else {
            steady = 0;
        }
        last = rss;
    }
    Ok(())
}

/// Wake-ups per second of a blocked process over [`IDLE_WINDOW`].
pub(super) fn idle_rate(pid: u32) -> Result<f64> {
    let before = wakeups(pid)?;
    std::thread::sleep(IDLE_WINDOW);
    let after = wakeups(pid)?;
    #[allow(clippy::cast_precision_loss)] // small counts
    Ok(after.saturating_sub(before) as f64 / IDLE_WINDOW.as_secs_f64())
}

/// Sends SIGTERM to a child we started.
pub(super) fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

/// One idle-wake-up measurement, for the idle section.
#[derive(Debug)]
pub(super) struct IdleRow {
    pub(super) what: String,
    pub(super) rate: f64,
}

/// `container wait` memory per build (and its wake-ups while blocked).
pub(super) fn wait_section(bins: &Bins, setup: &Setup, engine: &Engine) -> (Section, Vec<IdleRow>) {
    let mut s = Section::new(WAIT_TITLE);
    s.notes.push(format!(
        "`container wait {FEATURE}` on the running container, read from `/proc/<pid>/status` \
         once it blocks (asleep, resident size steady for 0.5 s), {WAIT_RUNS} waiters alive at \
         once (a switch has one per feature, all mapping the same binary): VmRSS (the median and the largest; split into \
         anonymous memory — the process's own — and pages mapped from the binary and \
         libraries, which every process mapping them shares), VmHWM (peak over its \
         life) and Pss (the proportional share, shared pages divided among their users; \
         `smaps_rollup`). *met?* is judged on VmRSS. Then `container stop` \
         ends the container and every waiter must exit 0. The floor is `sleep`, a process that \
         does nothing (its VmRSS)."
    ));
    let mut idle = Vec::new();
    let floor = sleep_rss();
    let floor_text = match &floor {
        Ok(m) => format!("{} (`sleep`)", mib(m.rss)),
        Err(e) => format!("not measured: {}", one_line(&format!("{e:#}"))),
    };
    for (build, bin) in bins.containers() {
        match wait_runs(bin, bins, setup, engine) {
            Ok((mut mems, rate)) => {
                mems.sort_unstable_by_key(|m| m.rss);
                let median = mems[mems.len() / 2];
                let max_rss = mems.iter().map(|m| m.rss).max().unwrap_or(median.rss);
                let max_hwm = mems.iter().map(|m| m.hwm).max().unwrap_or(median.hwm);
                let median_rss = median.rss;
                s.rows.push(Row {
                    what: format!("`container wait` ({build})"),
                    floor: floor_text.clone(),
                    ours: format!(
                        "VmRSS {} (anon {} + file {}; max {}), VmHWM max {}, Pss {}",
                        mib(median.rss),
                        mib(median.anon),
                        mib(median.file),
                        mib(max_rss),
                        mib(max_hwm),
                        mib(median.pss)
                    ),
                    compared: match &floor {
                        Ok(f) => format!("{:.1}× `sleep`", percent(median_rss, f.rss) / 100.0),
                        Err(_) => "—".to_owned(),
                    },
                    target: format!("≤ {} resident", mib(RSS_TARGET_BYTES)),
                    met: Met::when(median_rss <= RSS_TARGET_BYTES),
                });
                idle.push(IdleRow {
                    what: format!("`container wait` ({build}), blocked"),
                    rate,
                });
            }
            Err(e) => {
                eprintln!("xtask: bench: container wait ({build}): not measured: {e:#}");
                s.failed = true;
                s.rows.push(Row {
                    what: format!("`container wait` ({build})"),
                    floor: floor_text.clone(),
                    ours: format!("not measured: {}", one_line(&format!("{e:#}"))),
                    compared: "—".to_owned(),
                    target: format!("≤ {} resident", mib(RSS_TARGET_BYTES)),
                    met: Met::NotJudged,
                });
            }
        }
    }
    (s, idle)
}

/// [`WAIT_RUNS`] waiters of one build, alive at once on the running container (as a switch
/// has one per feature, sharing the binary's pages): their memory, and the wake-up rate of
/// the first. `container stop` then answers them all, and each must exit 0.
pub(super) fn wait_runs(
    bin: &Path,
    bins: &Bins,
    setup: &Setup,
    engine: &Engine,
) -> Result<(Vec<Memory>, f64)> {
    eprintln!(
        "xtask: bench: container wait ({}): {WAIT_RUNS} processes",
        bin.display()
    );
    output(&mut engine.ours(setup, &bins.kube, &["start", FEATURE]))?;
    let mut children = Vec::with_capacity(WAIT_RUNS);
    let mut spawned = Ok(());
    for _ in 0..WAIT_RUNS {
        let mut waiter = engine.ours(setup, bin, &["wait", FEATURE]);
        waiter.stderr(Stdio::null());
        match waiter.spawn() {
            Ok(child) => children.push(child),
            Err(e) => {
                spawned = Err(anyhow::Error::new(e)
                    .context(format!("cannot start `{}`", cmd::display(&waiter))));
                break;
            }
        }
    }
    let measured = spawned.and_then(|()| {
        for child in &mut children {
            wait_until_blocked(child, "container wait")?;
        }
        let mems = children
            .iter()
            .map(|c| memory(c.id()))
            .collect::<Result<Vec<_>>>()?;
        let rate = match children.first() {
            Some(c) => idle_rate(c.id())?,
            None => 0.0,
        };
        Ok((mems, rate))
    });
    // Whatever happened, the container is stopped and every waiter ends.
    let stopped = output(&mut engine.ours(setup, &bins.kube, &["stop", FEATURE]));
    let mut exits = Vec::with_capacity(children.len());
    for child in &mut children {
        exits.push(cmd::wait_within(child, DEADLINE));
    }
    let measured = measured?;
    stopped?;
    for exit in exits {
        match exit {
            Some(status) if status.success() => {}
            Some(status) => bail!("`container wait` exited {status} after `container stop`, not 0"),
            None => bail!("`container wait` did not exit within {DEADLINE:?} of `container stop`"),
        }
    }
    Ok(measured)
}

/// Resident memory of `sleep` once it blocks.
pub(super) fn sleep_rss() -> Result<Memory> {
    let mut child = quiet("sleep")
        .arg("1000")
        .spawn()
        .context("cannot start sleep")?;
    let m = wait_until_blocked(&mut child, "sleep").and_then(|()| memory(child.id()));
    let _ = child.kill();
    let _ = child.wait();
    m
}

/// Idle wake-ups: `kube-labeler run` with nothing to do, and the `container wait` figures.
pub(super) fn idle_section(bins: &Bins, setup: &Setup, waits: &[IdleRow]) -> Section {
    let mut s = Section::new(IDLE_TITLE);
    s.notes.push(format!(
        "Context switches (voluntary and not, every thread, from `/proc/<pid>/task/*/status`) \
         of a blocked process over {} s; each is a wake-up. `kube-labeler run` idles with the \
         master not connected and nothing pending, watching STATE_DB. The target is the daemons' \
         (DESIGN.md §10: 0 wake-ups per second between deadlines); `container wait` is shown \
         beside them.",
        IDLE_WINDOW.as_secs()
    ));
    let row = |what: String, rate: f64| Row {
        what,
        floor: "0/s".to_owned(),
        ours: format!("{rate:.1}/s"),
        compared: "—".to_owned(),
        target: "0/s".to_owned(),
        met: Met::when(rate == 0.0),
    };
    match labeler_idle(bins, setup) {
        Ok(rate) => s
            .rows
            .push(row("`kube-labeler run`, idle".to_owned(), rate)),
        Err(e) => {
            eprintln!("xtask: bench: kube-labeler run: not measured: {e:#}");
            s.failed = true;
            s.rows.push(Row {
                what: "`kube-labeler run`, idle".to_owned(),
                floor: "0/s".to_owned(),
                ours: format!("not measured: {}", one_line(&format!("{e:#}"))),
                compared: "—".to_owned(),
                target: "0/s".to_owned(),
                met: Met::NotJudged,
            });
        }
    }
    for w in waits {
        s.rows.push(Row {
            target: "— (not a daemon)".to_owned(),
            met: Met::NotJudged,
            ..row(w.what.clone(), w.rate)
        });
    }
    s
}

/// Wake-ups per second of an idle `kube-labeler run`.
pub(super) fn labeler_idle(bins: &Bins, setup: &Setup) -> Result<f64> {
    eprintln!("xtask: bench: kube-labeler run: idle for {IDLE_WINDOW:?}");
    let mut daemon = setup.ours(
        &bins.labeler,
        &["--kubeconfig", "/nonexistent/kubeconfig", "run"],
    );
    daemon.stderr(Stdio::null());
    let mut child = daemon
        .spawn()
        .with_context(|| format!("cannot start `{}`", cmd::display(&daemon)))?;
    let rate =
        wait_until_blocked(&mut child, "kube-labeler run").and_then(|()| idle_rate(child.id()));
    terminate(&child);
    let exit = cmd::wait_within(&mut child, DEADLINE);
    let rate = rate?;
    match exit {
        Some(status) if status.success() => Ok(rate),
        Some(status) => bail!("`kube-labeler run` exited {status} on SIGTERM, not 0"),
        None => bail!("`kube-labeler run` did not stop within {DEADLINE:?} of SIGTERM"),
    }
}

// ---- 5. daemons ---------------------------------------------------------------------------
