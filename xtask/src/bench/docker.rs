//! 3. Docker: `container start|stop` against the raw Engine API calls.

use super::*;

/// The Docker Engine the benchmarks use, and the environment our commands need to reach it.
pub(super) struct Engine {
    pub(super) prereqs: prereq::Prereqs,
    pub(super) socket: PathBuf,
}

impl Engine {
    /// Makes sure an engine answers (starting one when root, as `cargo xtask test` does).
    pub(super) fn ensure() -> Result<Self> {
        for program in ["docker", "curl", "tar"] {
            if cmd::on_path(program).is_none() {
                bail!("{program} is not on PATH");
            }
        }
        let prereqs = prereq::ensure()?;
        let mut probe = Command::new("true");
        prereqs.apply(&mut probe);
        let host = probe
            .get_envs()
            .find(|(k, _)| *k == "DOCKER_HOST")
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
            .or_else(|| std::env::var("DOCKER_HOST").ok());
        let socket = match host {
            None => PathBuf::from(DEFAULT_DOCKER_SOCKET),
            Some(h) => match h.strip_prefix("unix://") {
                Some(path) => PathBuf::from(path),
                None => bail!("DOCKER_HOST={h} is not a unix socket; the curl floor needs one"),
            },
        };
        let engine = Self { prereqs, socket };
        let mut version = engine.docker(&["version", "--format", "{{.Server.Version}}"]);
        if !cmd::succeeds_within(&mut version, DEADLINE) {
            bail!(
                "no Docker Engine answers `docker version` on {} (as root, `cargo xtask bench` \
                 starts one)",
                engine.socket.display()
            );
        }
        Ok(engine)
    }

    /// The Docker CLI with the engine's environment.
    pub(super) fn docker(&self, args: &[&str]) -> Command {
        let mut c = quiet("docker");
        c.args(args);
        self.prereqs.apply(&mut c);
        c
    }

    /// Imports the busybox image and creates the feature's stopped container.
    pub(super) fn create_container(&self, work: &Path) -> Result<()> {
        let rootfs = work.join("rootfs");
        let bin = rootfs.join("bin");
        fs::create_dir_all(&bin).with_context(|| format!("cannot create {}", bin.display()))?;
        fs::create_dir_all(rootfs.join("tmp"))
            .with_context(|| format!("cannot create {}/tmp", rootfs.display()))?;
        fs::copy(BUSYBOX, bin.join("busybox"))
            .with_context(|| format!("cannot copy {BUSYBOX} (apt-get install busybox-static)"))?;
        for applet in ["sh", "sleep"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet))
                .with_context(|| format!("cannot link {applet} in {}", bin.display()))?;
        }
        let tar = work.join("rootfs.tar");
        cmd::run(
            Command::new("tar")
                .arg("-C")
                .arg(&rootfs)
                .arg("-cf")
                .arg(&tar)
                .arg("."),
        )?;
        cmd::run(self.docker(&["import"]).arg(&tar).arg(IMAGE))?;
        self.remove_container();
        cmd::run(
            self.docker(&["create", "--name", FEATURE, "--network", "none", IMAGE])
                .args(CONTAINER_CMD),
        )
    }

    /// Removes the feature's container, if any.
    pub(super) fn remove_container(&self) {
        let _ = self
            .docker(&["rm", "-f", FEATURE])
            .stderr(Stdio::null())
            .status();
    }

    /// Whether the feature's container runs.
    pub(super) fn running(&self) -> Result<bool> {
        let mut c = self.docker(&["inspect", "--format", "{{.State.Running}}", FEATURE]);
        c.stdout(Stdio::piped());
        Ok(output(&mut c)? == "true")
    }

    /// The feature's container's full id.
    pub(super) fn container_id(&self) -> Result<String> {
        let mut c = self.docker(&["inspect", "--format", "{{.Id}}", FEATURE]);
        c.stdout(Stdio::piped());
        output(&mut c)
    }

    /// One of our binaries with the setup's files and the engine's environment.
    pub(super) fn ours(&self, setup: &Setup, bin: &Path, args: &[&str]) -> Command {
        let mut c = setup.ours(bin, args);
        self.prereqs.apply(&mut c);
        c
    }

    /// `curl` sending `requests` (method, path) over the engine's socket, in one process
    /// (one connection, as our command uses).
    pub(super) fn curl(&self, requests: &[(String, String)]) -> Command {
        let mut c = quiet("curl");
        for (i, (method, path)) in requests.iter().enumerate() {
            if i > 0 {
                c.arg("--next");
            }
            c.args(["-sS", "--fail", "-o", "/dev/null", "--unix-socket"])
                .arg(&self.socket)
                .args(["-X", method])
                .arg(format!("http://localhost{path}"));
        }
        c
    }
}

/// The Engine API requests (method, path) in some writes.
pub(super) fn http_requests(writes: &[String]) -> Vec<(String, String)> {
    const METHODS: [&str; 5] = ["GET", "POST", "DELETE", "PUT", "HEAD"];
    writes
        .iter()
        .filter_map(|w| {
            let mut words = w.split(' ');
            let method = words.next()?;
            let path = words.next()?;
            let version = words.next()?;
            (METHODS.contains(&method) && version.starts_with("HTTP/"))
                .then(|| (method.to_owned(), path.to_owned()))
        })
        .collect()
}

/// Start/stop, then `container wait` and idle wake-ups: the sections that need the engine.
pub(super) fn docker_sections(bins: &Bins, setup: &Setup) -> Vec<Section> {
    let titles = [START_STOP_TITLE, WAIT_TITLE, IDLE_TITLE];
    let engine = match Engine::ensure() {
        Ok(e) => e,
        Err(e) => {
            let mut out: Vec<Section> = titles.iter().map(|t| Section::failed(t, &e)).collect();
            // kube-labeler needs no engine.
            out[2] = idle_section(bins, setup, &[]);
            return out;
        }
    };
    let prepared = setup
        .seed_feature()
        .and_then(|()| engine.create_container(&setup.work));
    let out = match prepared {
        Err(e) => {
            let mut out: Vec<Section> = titles.iter().map(|t| Section::failed(t, &e)).collect();
            out[2] = idle_section(bins, setup, &[]);
            out
        }
        Ok(()) => {
            let start_stop = start_stop_section(bins, setup, &engine)
                .unwrap_or_else(|e| Section::failed(titles[0], &e));
            let (wait, idle_rows) = wait_section(bins, setup, &engine);
            vec![start_stop, wait, idle_section(bins, setup, &idle_rows)]
        }
    };
    engine.remove_container();
    let _ = engine
        .docker(&["rmi", IMAGE])
        .stderr(Stdio::null())
        .status();
    // `engine` drops here: a Docker Engine started for the benchmarks is stopped.
    out
}

/// Section 3: `container start|stop` of each build, paired with the Engine API requests it
/// sends, sent by curl.
pub(super) fn start_stop_section(bins: &Bins, setup: &Setup, engine: &Engine) -> Result<Section> {
    let mut s = Section::new(START_STOP_TITLE);
    let start = |bin: &Path| engine.ours(setup, bin, &["start", FEATURE]);
    let stop = |bin: &Path| engine.ours(setup, bin, &["stop", FEATURE]);
    let (start_requests, stop_requests) = traced_requests(bins, setup, engine)?;
    s.notes.push(start_stop_note(
        engine,
        &bins.kube,
        &start_requests,
        &stop_requests,
    ));
    let mut floor_start = engine.curl(&start_requests);
    let mut floor_stop = engine.curl(&stop_requests);
    for (build, bin) in bins.containers() {
        let mut ours_start = start(bin);
        let mut ours_stop = stop(bin);
        let (ours, floor) = interleave(
            &format!("container start|stop ({build})"),
            DOCKER_RUNS,
            DOCKER_BUDGET,
            &mut || Ok((timed(&mut ours_start)?, timed(&mut ours_stop)?)),
            &mut || Ok((timed(&mut floor_start)?, timed(&mut floor_stop)?)),
        )?;
        push_start_stop_rows(&mut s, build, &ours, &floor)?;
    }
    Ok(s)
}

/// Engine API requests: (method, path).
type Requests = Vec<(String, String)>;

/// The Engine API requests of `container start` and of `container stop` (kube build), read
/// from one traced cycle after two untraced ones; the record and the container checked.
fn traced_requests(bins: &Bins, setup: &Setup, engine: &Engine) -> Result<(Requests, Requests)> {
    let kube = &bins.kube;
    let start = |bin: &Path| engine.ours(setup, bin, &["start", FEATURE]);
    let stop = |bin: &Path| engine.ours(setup, bin, &["stop", FEATURE]);

    // Two untraced cycles, then one traced: its requests are the floor's.
    for _ in 0..2 {
        output(&mut start(kube))?;
        output(&mut stop(kube))?;
    }
    let start_requests = http_requests(&traced_writes(&start(kube), &engine.socket, &setup.work)?);
    ensure!(
        engine.running()?,
        "`container start {FEATURE}` left the container stopped"
    );
    let id = engine.container_id()?;
    let recorded = setup.record_field(codec::DOCKER_ID)?;
    ensure!(
        recorded == id,
        "after `container start`, STATE_DB docker_id is {recorded:?}, not the container's {id}"
    );
    let stop_requests = http_requests(&traced_writes(&stop(kube), &engine.socket, &setup.work)?);
    ensure!(
        !engine.running()?,
        "`container stop {FEATURE}` left the container running"
    );
    ensure!(
        !start_requests.is_empty() && !stop_requests.is_empty(),
        "no Engine API request seen under strace (start: {start_requests:?}, stop: {stop_requests:?})"
    );
    Ok((start_requests, stop_requests))
}

/// The section's note: what is measured against what.
fn start_stop_note(
    engine: &Engine,
    kube: &Path,
    start_requests: &[(String, String)],
    stop_requests: &[(String, String)],
) -> String {
    let show = |reqs: &[(String, String)]| {
        reqs.iter()
            .map(|(m, p)| format!("`{m} {p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "A busybox container (`{IMAGE}`, imported from `{BUSYBOX}`; it exits 0 on SIGTERM) \
         started and stopped by `container start|stop {FEATURE}` (set_owner=local; Redis as \
         above). The floor is one `curl --unix-socket {}` process sending the same Engine API \
         requests our command sent, read from one run under strace — start: {}; stop: {}. `ldd` lists {} \
         libraries for curl and {} for our `container`; start-up is part of both. Our \
         times include everything else the command does: reading both rows, the feature lock, \
         the state write. The engine's own time varies far more from one run to the next than \
         the few milliseconds we add, so the difference is the median of the differences \
         within each back-to-back pair (ours, floor), which cancels that drift; the medians' \
         ratio is shown beside it.",
        engine.socket.display(),
        show(start_requests),
        show(stop_requests),
        shared_libraries("curl"),
        shared_libraries(kube),
    )
}

/// The start row and the stop row of one build, from its paired (start, stop) timings.
fn push_start_stop_rows(
    s: &mut Section,
    build: &str,
    ours: &[(Duration, Duration)],
    floor: &[(Duration, Duration)],
) -> Result<()> {
    for (verb, pick) in [("start", 0_usize), ("stop", 1_usize)] {
        let get = |v: &[(Duration, Duration)]| -> Vec<Duration> {
            v.iter()
                .map(|p| if pick == 0 { p.0 } else { p.1 })
                .collect()
        };
        let (ours, floor) = (get(ours), get(floor));
        let (o, f) = (Stats::of(&ours)?, Stats::of(&floor)?);
        let diff = paired_difference(&ours, &floor)?;
        s.rows.push(Row {
            what: format!("`container {verb}` ({build}), {} runs", o.runs),
            floor: f.show(),
            ours: o.show(),
            compared: format!(
                "{} paired ({:.2}× medians)",
                signed_secs(diff),
                ratio(o.median, f.median)
            ),
            target: format!("≤ floor + {}", ms(DOCKER_DIFF_TARGET)),
            met: Met::when(diff <= DOCKER_DIFF_TARGET.as_secs_f64()),
        });
    }
    Ok(())
}
