//! Processes: the work dir, timing, output, strace-counted round trips, the dist binaries.

use super::*;

/// A temp dir of this run, removed on drop.
#[derive(Debug)]
pub(super) struct WorkDir(PathBuf);

impl WorkDir {
    pub(super) fn create() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("ctrmgr-bench-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove the stale {}", dir.display()))?;
        }
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs a prepared command once (stdout discarded, stderr kept for the error) and answers how
/// long it took from spawn to exit; fails when it exits unsuccessfully.
pub(super) fn timed(cmd: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("cannot run `{}`", cmd::display(cmd)))?;
    let took = start.elapsed();
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            cmd::display(cmd),
            out.status,
            one_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    Ok(took)
}

/// A command with no input whose output is discarded (stderr is captured by [`timed`]).
pub(super) fn quiet(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    c.stdin(Stdio::null()).stdout(Stdio::null());
    c
}

/// Runs a command and answers its standard output; fails naming it when it fails.
pub(super) fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{}`", cmd::display(cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            cmd::display(cmd),
            out.status,
            one_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs `ours` and `floor` alternately (after warm-up), `runs` times or until `budget` is
/// spent (never fewer than [`MIN_RUNS`]), and answers their samples.
pub(super) fn interleave<T>(
    what: &str,
    runs: usize,
    budget: Duration,
    ours: &mut dyn FnMut() -> Result<T>,
    floor: &mut dyn FnMut() -> Result<T>,
) -> Result<(Vec<T>, Vec<T>)> {
    eprintln!("xtask: bench: {what}: up to {runs} runs of ours and of the floor");
    for _ in 0..WARMUP {
        ours().with_context(|| format!("{what}: warm-up"))?;
        floor().with_context(|| format!("{what}: warm-up of the floor"))?;
    }
    let start = Instant::now();
    let mut o = Vec::with_capacity(runs);
    let mut f = Vec::with_capacity(runs);
    for i in 0..runs {
        if i >= MIN_RUNS && start.elapsed() > budget {
            break;
        }
        if i % 2 == 0 {
            o.push(ours().with_context(|| format!("{what}: run {i}"))?);
            f.push(floor().with_context(|| format!("{what}: run {i} of the floor"))?);
        } else {
            f.push(floor().with_context(|| format!("{what}: run {i} of the floor"))?);
            o.push(ours().with_context(|| format!("{what}: run {i}"))?);
        }
    }
    Ok((o, f))
}

/// What a command wrote on connections to one unix socket, from one run under `strace`: the
/// first line of each write (one write per request or pipelined batch of requests).
pub(super) fn traced_writes(cmd: &Command, socket: &Path, work: &Path) -> Result<Vec<String>> {
    if cmd::on_path("strace").is_none() {
        bail!("strace is not on PATH (apt-get install strace): round trips cannot be counted");
    }
    let log = work.join("strace.log");
    let mut traced = Command::new("strace");
    traced
        .args(["-f", "-qq", "-s", "256", "-e"])
        .arg("trace=connect,close,write,writev,sendto,sendmsg")
        .arg("-o")
        .arg(&log)
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if let Some(dir) = cmd.get_current_dir() {
        traced.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => traced.env(k, v),
            None => traced.env_remove(k),
        };
    }
    output(&mut traced)?;
    let text =
        fs::read_to_string(&log).with_context(|| format!("cannot read {}", log.display()))?;
    Ok(socket_writes(&text, &socket.to_string_lossy()))
}

/// Parses `strace -f` output: follows the file descriptors connected to `socket` (until
/// closed) and answers the start of every write on them, up to its first `\r\n`.
pub(super) fn socket_writes(strace: &str, socket: &str) -> Vec<String> {
    let needle = format!("sun_path=\"{socket}\"");
    let mut fds: BTreeSet<String> = BTreeSet::new();
    let mut writes = Vec::new();
    for line in strace.lines() {
        // "<pid>  <syscall>(<fd>, …"
        let call = line
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
        let Some((name, rest)) = call.split_once('(') else {
            continue;
        };
        let fd: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if fd.is_empty() {
            continue;
        }
        match name {
            "connect" if rest.contains(&needle) && !rest.contains("= -1") => {
                fds.insert(fd);
            }
            "close" => {
                fds.remove(&fd);
            }
            "write" | "writev" | "sendto" | "sendmsg" if fds.contains(&fd) => {
                let payload = rest.split_once('"').map_or("", |(_, p)| p);
                let first = payload
                    .split("\\r\\n")
                    .next()
                    .unwrap_or(payload)
                    .split('"')
                    .next()
                    .unwrap_or_default();
                writes.push(first.to_owned());
            }
            _ => {}
        }
    }
    writes
}

/// How many shared libraries `ldd` lists for a program (on PATH or a path), as text.
pub(super) fn shared_libraries(program: impl AsRef<std::ffi::OsStr>) -> String {
    let program = program.as_ref();
    let path = cmd::on_path(program).unwrap_or_else(|| PathBuf::from(program));
    let mut ldd = Command::new("ldd");
    ldd.arg(&path).stderr(Stdio::null());
    match output(&mut ldd) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.contains("linux-vdso"))
            .count()
            .to_string(),
        Err(_) => "an unknown number of".to_owned(),
    }
}

/// The binaries measured.
#[derive(Debug)]
pub(super) struct Bins {
    /// `container`, default features (kube).
    pub(super) kube: PathBuf,
    /// `container --no-default-features`.
    pub(super) nokube: PathBuf,
    pub(super) labeler: PathBuf,
    pub(super) hostcfgd: PathBuf,
    pub(super) monit: PathBuf,
}

impl Bins {
    /// The two builds of `container`, with their names in the report.
    pub(super) fn containers(&self) -> [(&'static str, &Path); 2] {
        [("kube build", &self.kube), ("no-kube build", &self.nokube)]
    }
}

/// Builds the dist binaries, each in a cargo invocation of its own, and copies them into
/// `work` (both builds of `container` have the same name in the target dir).
pub(super) fn build(root: &Path, work: &Path) -> Result<Bins> {
    let target = target_dir(root)?.join("dist");
    let builds: [(&str, &[&str], &str, &str); 5] = [
        (
            "container-cmd",
            &["--no-default-features"],
            "container",
            "container-nokube",
        ),
        ("container-cmd", &[], "container", "container-kube"),
        ("kube-labeler", &[], "kube-labeler", "kube-labeler"),
        (
            "hostcfgd-watcher",
            &[],
            "hostcfgd-watcher",
            "hostcfgd-watcher",
        ),
        ("kube-monit", &[], "kube-monit", "kube-monit"),
    ];
    for (package, flags, bin, copy) in builds {
        cmd::run(
            cmd::cargo(root)
                .args(["build", "--profile", "dist", "--package", package])
                .args(flags),
        )?;
        let from = target.join(bin);
        let to = work.join(copy);
        fs::copy(&from, &to)
            .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    }
    Ok(Bins {
        kube: work.join("container-kube"),
        nokube: work.join("container-nokube"),
        labeler: work.join("kube-labeler"),
        hostcfgd: work.join("hostcfgd-watcher"),
        monit: work.join("kube-monit"),
    })
}

/// Cargo's target dir for this workspace (`cargo metadata`, which honours
/// `CARGO_TARGET_DIR` and `build.target-dir`).
pub(super) fn target_dir(root: &Path) -> Result<PathBuf> {
    let meta = output(cmd::cargo(root).args(["metadata", "--format-version", "1", "--no-deps"]))?;
    let key = "\"target_directory\":\"";
    let start = meta
        .find(key)
        .map(|i| i + key.len())
        .context("cargo metadata names no target_directory")?;
    let end = meta[start..]
        .find('"')
        .context("cargo metadata's target_directory is not a string")?;
    Ok(PathBuf::from(
        meta[start..start + end].replace("\\\\", "\\"),
    ))
}

/// Runs a benchmark example to its end, its stderr shown, and answers its stdout; fails when
/// it does.
pub(super) fn example_output(run: &mut Command) -> Result<String> {
    eprintln!("$ {}", cmd::display(run));
    let out = run
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run `{}`", cmd::display(run)))?;
    ensure!(
        out.status.success(),
        "`{}` failed: {}",
        cmd::display(run),
        out.status
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
