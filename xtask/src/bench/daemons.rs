//! 5. Daemons: hostcfgd-watcher's reaction, idle wake-ups.

use super::*;

/// hostcfgd-watcher's reaction and both daemons' idle wake-ups.
pub(super) fn daemons_section(bins: &Bins, setup: &Setup) -> Section {
    let mut s = Section::new(DAEMONS_TITLE);
    s.notes.push(format!(
        "**Reaction**: `hostcfgd-watcher` runs against this run's redis-server with a \
         `systemctl` stand-in (`/bin/sh`: it writes its arguments into a FIFO, then says \
         `inactive`, so the approval stops there). Each of {REACTION_RUNS} transitions is one \
         `HSET FEATURE|{FEATURE} current_owner none transition_mode kube_pending` sent on an open \
         connection of ours; the time runs from just before the write to the moment the \
         stand-in's line arrives in the FIFO — keyspace notification, the daemon's read of the \
         row, its decision, the fork/exec of `systemctl is-active` and the stand-in's start \
         included. Then `transition_mode none` resets the row (no systemctl call), and the next \
         transition waits 10 ms. The floor is the same HSET and FIFO path with nothing between: \
         a `redis-cli` subscriber would be slower, so the floor shown is the shell stand-in \
         alone (`/bin/sh` writing into the FIFO, spawned by us). **Idle**: as above, over {} s, \
         with nothing pending and no Kubernetes master configured (`probe_interval_secs` 60, so \
         no probe falls in the window).",
        IDLE_WINDOW.as_secs()
    ));
    match reaction(bins, setup) {
        Ok((ours, floor)) => s.rows.push(Row {
            what: format!(
                "hostcfgd-watcher: HSET kube_pending → first systemctl call ({} transitions)",
                ours.runs
            ),
            floor: floor.show(),
            ours: ours.show(),
            compared: signed_ms(ours.p99, floor.p99),
            target: format!("≤ {} p99", ms(REACTION_TARGET)),
            met: Met::when(ours.p99 <= REACTION_TARGET),
        }),
        Err(e) => {
            eprintln!("xtask: bench: hostcfgd-watcher reaction: not measured: {e:#}");
            s.failed = true;
            s.rows.push(Row {
                what: "hostcfgd-watcher: HSET kube_pending → first systemctl call".to_owned(),
                floor: "—".to_owned(),
                ours: format!("not measured: {}", one_line(&format!("{e:#}"))),
                compared: "—".to_owned(),
                target: format!("≤ {} p99", ms(REACTION_TARGET)),
                met: Met::NotJudged,
            });
        }
    }
    let daemons: [(&str, &Path, &[&str]); 2] = [
        ("`hostcfgd-watcher`, idle", &bins.hostcfgd, &[]),
        ("`kube-monit run`, idle", &bins.monit, &["run"]),
    ];
    for (what, bin, args) in daemons {
        let row = match daemon_idle(setup, bin, args) {
            Ok(rate) => Row {
                what: what.to_owned(),
                floor: "0/s".to_owned(),
                ours: format!("{rate:.1}/s"),
                compared: "—".to_owned(),
                target: "0/s".to_owned(),
                met: Met::when(rate == 0.0),
            },
            Err(e) => {
                eprintln!("xtask: bench: {what}: not measured: {e:#}");
                s.failed = true;
                Row {
                    what: what.to_owned(),
                    floor: "0/s".to_owned(),
                    ours: format!("not measured: {}", one_line(&format!("{e:#}"))),
                    compared: "—".to_owned(),
                    target: "0/s".to_owned(),
                    met: Met::NotJudged,
                }
            }
        };
        s.rows.push(row);
    }
    s
}

/// The daemons' tunables: the setup's, a `systemctl` stand-in, no probe within the window.
pub(super) fn daemon_tunables(setup: &Setup, systemctl: &Path) -> Result<PathBuf> {
    let path = setup.work.join("daemons.json");
    fs::write(
        &path,
        format!(
            "{{\"lock_dir\": {}, \"systemctl\": {}, \"probe_interval_secs\": 60, \"kubeconfig\": \"/nonexistent/kubeconfig\"}}\n",
            json_string(&setup.work.join("locks").to_string_lossy()),
            json_string(&systemctl.to_string_lossy()),
        ),
    )
    .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// A daemon run with the setup's DB config and `tunables`, its stderr discarded.
pub(super) fn daemon(setup: &Setup, bin: &Path, tunables: &Path, args: &[&str]) -> Result<Child> {
    let mut c = quiet(bin);
    c.arg("--db-config")
        .arg(&setup.db_config)
        .arg("--config")
        .arg(tunables)
        .args(args)
        .stderr(Stdio::null());
    c.spawn()
        .with_context(|| format!("cannot start `{}`", cmd::display(&c)))
}

/// Stops a daemon with SIGTERM and checks it exits 0.
pub(super) fn stop_daemon(mut child: Child, what: &str) -> Result<()> {
    terminate(&child);
    match cmd::wait_within(&mut child, DEADLINE) {
        Some(status) if status.success() => Ok(()),
        Some(status) => bail!("{what} exited {status} on SIGTERM, not 0"),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not stop within {DEADLINE:?} of SIGTERM")
        }
    }
}

/// Wake-ups per second of an idle daemon.
pub(super) fn daemon_idle(setup: &Setup, bin: &Path, args: &[&str]) -> Result<f64> {
    eprintln!("xtask: bench: {} idle for {IDLE_WINDOW:?}", bin.display());
    let tunables = daemon_tunables(setup, Path::new("true"))?;
    setup.seed_feature()?;
    let mut child = daemon(setup, bin, &tunables, args)?;
    let rate = wait_until_blocked(&mut child, "the daemon").and_then(|()| idle_rate(child.id()));
    let stopped = stop_daemon(child, &bin.display().to_string());
    let rate = rate?;
    stopped?;
    Ok(rate)
}

/// A RESP command.
pub(super) fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

/// Sends one RESP command on `conn` and reads its one-line answer (`+OK`, `:1`, …).
pub(super) fn redis_call(
    conn: &mut std::os::unix::net::UnixStream,
    reader: &mut BufReader<std::os::unix::net::UnixStream>,
    args: &[&str],
) -> Result<()> {
    use std::io::Write as _;
    conn.write_all(&resp(args))
        .context("cannot write to redis-server")?;
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .context("cannot read redis-server's answer")?;
    ensure!(!line.starts_with('-'), "redis-server: {}", line.trim());
    Ok(())
}

/// hostcfgd-watcher's reaction, and the floor.
pub(super) fn reaction(bins: &Bins, setup: &Setup) -> Result<(Stats, Stats)> {
    eprintln!("xtask: bench: hostcfgd-watcher reaction, {REACTION_RUNS} transitions");
    let (stand_in, rx) = fifo_stand_in(setup)?;
    setup.seed_feature()?;
    let mut conn = std::os::unix::net::UnixStream::connect(&setup.socket)
        .with_context(|| format!("cannot connect to {}", setup.socket.display()))?;
    let mut answers = BufReader::new(conn.try_clone().context("cannot clone the socket")?);
    let state_db = codec::DEFAULT_STATE_DB_ID.to_string();
    redis_call(&mut conn, &mut answers, &["SELECT", &state_db])?;
    let floor = stand_in_floor(&stand_in, &rx)?;
    let tunables = daemon_tunables(setup, &stand_in)?;
    let child = daemon(setup, &bins.hostcfgd, &tunables, &[])?;
    let measured = measure_reactions(&mut conn, &mut answers, &rx);
    let stopped = stop_daemon(child, "hostcfgd-watcher");
    let samples = measured?;
    stopped?;
    setup.clear_record()?;
    Ok((Stats::of(&samples)?, Stats::of(&floor)?))
}

/// A `systemctl` stand-in that writes its arguments as a line into a FIFO (and says
/// `inactive`, exit 3), and the receiver of those lines with the time each was read.
fn fifo_stand_in(setup: &Setup) -> Result<(PathBuf, mpsc::Receiver<(Instant, String)>)> {
    let fifo = setup.work.join("systemctl.fifo");
    let _ = fs::remove_file(&fifo);
    let status = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .context("cannot run mkfifo")?;
    ensure!(status.success(), "mkfifo {} failed", fifo.display());
    let stand_in = setup.work.join("systemctl-fifo");
    fs::write(
        &stand_in,
        format!(
            "#!/bin/sh\necho \"$*\" > {}\necho inactive\nexit 3\n",
            json_string(&fifo.to_string_lossy())
        ),
    )
    .context("cannot write the systemctl stand-in")?;
    let status = Command::new("chmod")
        .arg("755")
        .arg(&stand_in)
        .status()
        .context("cannot run chmod")?;
    ensure!(status.success(), "chmod failed");

    // Read and write: the open does not wait for a writer, and the FIFO never sees EOF.
    let reader = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .with_context(|| format!("cannot open {}", fifo.display()))?;
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    Ok((stand_in, rx))
}

/// The floor: the stand-in itself, spawned here, from spawn to its line in the FIFO.
fn stand_in_floor(
    stand_in: &Path,
    rx: &mpsc::Receiver<(Instant, String)>,
) -> Result<Vec<Duration>> {
    let mut floor = Vec::new();
    for i in 0..(REACTION_RUNS / 4 + WARMUP) {
        let t0 = Instant::now();
        let mut c = quiet(stand_in);
        c.args(["is-active", FEATURE]);
        let mut child = c.spawn().context("cannot run the stand-in")?;
        let (t1, _) = rx
            .recv_timeout(DEADLINE)
            .context("the stand-in wrote nothing")?;
        let _ = child.wait();
        if i >= WARMUP {
            floor.push(t1 - t0);
        }
    }
    Ok(floor)
}

/// With hostcfgd-watcher running: from each row's write of kube_pending to the daemon's
/// first systemctl call for it.
fn measure_reactions(
    conn: &mut std::os::unix::net::UnixStream,
    answers: &mut BufReader<std::os::unix::net::UnixStream>,
    rx: &mpsc::Receiver<(Instant, String)>,
) -> Result<Vec<Duration>> {
    let key = feature_key();
    // Ready once its first scan is done: a pending row set before it started is answered.
    redis_call(
        conn,
        answers,
        &[
            "HSET",
            &key,
            codec::TRANSITION_MODE,
            codec::MODE_KUBE_PENDING,
        ],
    )?;
    rx.recv_timeout(DEADLINE)
        .context("hostcfgd-watcher made no systemctl call for a pending row at start")?;
    let mut samples = Vec::with_capacity(REACTION_RUNS);
    for i in 0..(REACTION_RUNS + WARMUP) {
        redis_call(
            conn,
            answers,
            &["HSET", &key, codec::TRANSITION_MODE, codec::MODE_NONE],
        )?;
        std::thread::sleep(Duration::from_millis(10));
        while rx.try_recv().is_ok() {}
        let t0 = Instant::now();
        redis_call(
            conn,
            answers,
            &[
                "HSET",
                &key,
                codec::CURRENT_OWNER,
                codec::OWNER_NONE,
                codec::TRANSITION_MODE,
                codec::MODE_KUBE_PENDING,
            ],
        )?;
        let (t1, line) = rx
            .recv_timeout(DEADLINE)
            .with_context(|| format!("no systemctl call after transition {i}"))?;
        ensure!(
            line == format!("is-active {FEATURE}"),
            "the first systemctl call was {line:?}"
        );
        if i >= WARMUP {
            samples.push(t1 - t0);
        }
    }
    Ok(samples)
}
