//! `cargo xtask dist`: the Debian packages `sonic-ctrmgr` and `sonic-ctrmgr-local`, built by
//! `dpkg-buildpackage -b -us -uc` from `debian/` (cargo profile `dist`, or the one named by
//! `CTRMGR_CARGO_PROFILE`) and checked by lintian, in `target/dist/`; and the package layout in
//! `target/dist/root/` — the binaries, the files of `packaging/`, and, generated from the clap
//! definitions of the binaries, shell completions (bash, zsh, fish) and man pages (one per
//! command and subcommand). `cargo xtask completions <dir>` writes only the generated files
//! (debian/rules calls it).
//!
//! The clap definitions are read from each binary's `src/cli.rs` (clap derive, ctrmgr-core's
//! name types and ctrmgr-bin's global options only), included here as modules.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::CommandFactory as _;

use crate::cmd;

mod fish;

#[allow(dead_code, unreachable_pub)]
#[path = "../../bins/sonic-kube/src/cli.rs"]
mod sonic_kube_cli;

#[allow(dead_code, unreachable_pub)]
#[path = "../../bins/kube-labeler/src/cli.rs"]
mod kube_labeler_cli;

#[allow(dead_code, unreachable_pub)]
#[path = "../../bins/container-cmd/src/cli.rs"]
mod container_cli;

#[allow(dead_code, unreachable_pub)]
#[path = "../../bins/hostcfgd-watcher/src/cli.rs"]
mod hostcfgd_watcher_cli;

#[allow(dead_code, unreachable_pub)]
#[path = "../../bins/kube-monit/src/cli.rs"]
mod kube_monit_cli;

/// The clap definition of every binary completions and man pages are generated for.
pub fn commands() -> Vec<clap::Command> {
    vec![
        sonic_kube_cli::Cli::command(),
        kube_labeler_cli::Cli::command(),
        container_cli::Cli::command(),
        hostcfgd_watcher_cli::Cli::command(),
        kube_monit_cli::Cli::command(),
    ]
}

/// Where the generated files go below the package root, Debian's places.
pub const BASH_DIR: &str = "usr/share/bash-completion/completions";
/// zsh completions.
pub const ZSH_DIR: &str = "usr/share/zsh/vendor-completions";
/// fish completions.
pub const FISH_DIR: &str = "usr/share/fish/vendor_completions.d";
/// Man pages, section 1.
pub const MAN_DIR: &str = "usr/share/man/man1";

/// Every command of `cmd` with the words that lead to it (`["sonic-kube", "config",
/// "kubernetes"]`), the command itself first, depth first; `help` left out.
pub fn command_paths(cmd: &clap::Command) -> Vec<(Vec<String>, clap::Command)> {
    fn walk(path: Vec<String>, c: &clap::Command, out: &mut Vec<(Vec<String>, clap::Command)>) {
        out.push((path.clone(), c.clone()));
        for sub in c.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut p = path.clone();
            p.push(sub.get_name().to_owned());
            walk(p, sub, out);
        }
    }
    let mut out = Vec::new();
    walk(vec![cmd.get_name().to_owned()], cmd, &mut out);
    out
}

/// Writes the completions and man pages of `cmd` below `root`; returns the files written.
pub fn generate(cmd: &clap::Command, root: &Path) -> Result<Vec<PathBuf>> {
    use clap_complete::Shell;
    let name = cmd.get_name().to_owned();
    let mut written = Vec::new();
    for (shell, dir, file) in [
        (Some(Shell::Bash), BASH_DIR, name.clone()),
        (Some(Shell::Zsh), ZSH_DIR, format!("_{name}")),
        // clap_complete's fish script stops three words deep: fish.rs walks the whole tree.
        (None, FISH_DIR, format!("{name}.fish")),
    ] {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let mut buf = Vec::new();
        match shell {
            Some(shell) => clap_complete::generate(shell, &mut cmd.clone(), &name, &mut buf),
            None => buf = fish::script(cmd).into_bytes(),
        }
        let path = dir.join(file);
        std::fs::write(&path, buf).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    let man_dir = root.join(MAN_DIR);
    std::fs::create_dir_all(&man_dir)
        .with_context(|| format!("cannot create {}", man_dir.display()))?;
    let mut built = cmd.clone();
    built.build();
    for (path, c) in command_paths(&built) {
        let page = path.join("-");
        let c = c.name(page.clone()).bin_name(path.join(" "));
        let mut buf = Vec::new();
        clap_mangen::Man::new(c)
            .render(&mut buf)
            .with_context(|| format!("cannot render the man page {page}"))?;
        let file = man_dir.join(format!("{page}.1"));
        std::fs::write(&file, buf).with_context(|| format!("cannot write {}", file.display()))?;
        written.push(file);
    }
    Ok(written)
}

/// The binaries of the package.
const BINARIES: &[&str] = &[
    "container",
    "kube-labeler",
    "sonic-kube",
    "hostcfgd-watcher",
    "kube-monit",
];

/// The environment variable debian/rules reads for the cargo profile of the packaged binaries
/// (default `dist`).
pub const PROFILE_ENV: &str = "CTRMGR_CARGO_PROFILE";

/// The binary packages of `debian/control`, in that order.
pub const PACKAGES: [&str; 2] = ["sonic-ctrmgr", "sonic-ctrmgr-local"];

/// The cargo profile of the packages: `CTRMGR_CARGO_PROFILE`, else `dist`.
pub fn profile() -> String {
    std::env::var(PROFILE_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "dist".to_owned())
}

/// cargo's output directory of `profile` below `target/`.
fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "test" => "debug",
        p => p,
    }
}

/// Builds both packages with `dpkg-buildpackage -b -us -uc` at the root of `project`, the
/// binaries in cargo profile `profile`; the `.deb` files (and the `.buildinfo` and `.changes`)
/// are written to `out`, whose older `.deb` files of these packages are removed first. Returns
/// the two `.deb` paths in [`PACKAGES`] order.
pub fn build_debs(project: &Path, profile: &str, out: &Path) -> Result<[PathBuf; 2]> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let out = out
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", out.display()))?;
    for deb in find_debs(&out)? {
        std::fs::remove_file(&deb).with_context(|| format!("cannot remove {}", deb.display()))?;
    }
    let mut c = std::process::Command::new("dpkg-buildpackage");
    c.current_dir(project)
        .args(["-b", "-us", "-uc"])
        .arg(format!(
            "--buildinfo-file={}",
            out.join("sonic-ctrmgr.buildinfo").display()
        ))
        .arg(format!(
            "--changes-file={}",
            out.join("sonic-ctrmgr.changes").display()
        ))
        .arg(format!("--buildinfo-option=-u{}", out.display()))
        .arg(format!("--changes-option=-u{}", out.display()))
        .env(PROFILE_ENV, profile)
        .env("CTRMGR_DEB_DESTDIR", &out);
    cmd::run(&mut c).context("dpkg-buildpackage failed (apt-get install debhelper dpkg-dev)")?;
    let debs = find_debs(&out)?;
    let pick = |name: &str| {
        debs.iter()
            .find(|d| {
                d.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{name}_")))
            })
            .cloned()
            .with_context(|| {
                format!(
                    "dpkg-buildpackage wrote no {name}_*.deb in {}",
                    out.display()
                )
            })
    };
    Ok([pick(PACKAGES[0])?, pick(PACKAGES[1])?])
}

/// The `.deb` files of [`PACKAGES`] in `dir`.
fn find_debs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut debs = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = e?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".deb") && PACKAGES.iter().any(|p| name.starts_with(&format!("{p}_"))) {
            debs.push(path);
        }
    }
    Ok(debs)
}

/// Runs lintian on `debs`; fails on any error-level tag (the overrides in
/// `debian/*.lintian-overrides` each carry their reason). Returns lintian's report.
pub fn lintian(debs: &[PathBuf]) -> Result<String> {
    let mut c = std::process::Command::new("lintian");
    c.args(["--fail-on", "error", "--tag-display-limit", "0"])
        .args(debs);
    let shown = cmd::display(&c);
    eprintln!("$ {shown}");
    let out = c
        .output()
        .with_context(|| format!("cannot run `{shown}` (apt-get install lintian)"))?;
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        anyhow::bail!(
            "lintian found errors ({}):\n{report}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(report)
}

/// `cargo xtask completions <dir>`: the completions and man pages of every binary below `dir`.
pub fn completions(dir: &Path) -> Result<()> {
    let mut n = 0;
    for c in commands() {
        n += generate(&c, dir)?.len();
    }
    // What the packages install (debian/*.install, *.manpages) is checked against this list.
    if let Some(f) = generated_files().iter().find(|f| !dir.join(f).is_file()) {
        anyhow::bail!("{} was not generated", f.display());
    }
    eprintln!(
        "xtask: {n} completion and man page files in {}",
        dir.display()
    );
    Ok(())
}

/// `cargo xtask dist [--no-build]`: with `build`, both packages (profile [`profile`]) into
/// `target/dist/`, lintian-checked; then, in either case, the layout in `target/dist/root/`
/// from the binaries already built in that profile.
pub fn run(project: &Path, build: bool) -> Result<()> {
    let profile = profile();
    if build {
        let out = project.join("target/dist");
        let debs = build_debs(project, &profile, &out)?;
        let report = lintian(&debs)?;
        eprint!("{report}");
        for d in &debs {
            eprintln!("xtask: built {}", d.display());
        }
    }
    let root = project.join("target/dist/root");
    layout(project, &profile, &root)?;
    eprintln!("xtask: package layout in {}", root.display());
    Ok(())
}

/// Lays out the package below `root` (emptied first): the binaries built in `profile` (those
/// not built are left out, with a note), the files of `packaging/` (the `system` script, the
/// daemon units, ctrmgr.json, the templates), and the completions and man pages.
pub fn layout(project: &Path, profile: &str, root: &Path) -> Result<()> {
    if root.exists() {
        std::fs::remove_dir_all(root)
            .with_context(|| format!("cannot clear {}", root.display()))?;
    }
    let bin_dir = root.join("usr/bin");
    std::fs::create_dir_all(&bin_dir)?;
    for b in BINARIES {
        let from = project.join("target").join(profile_dir(profile)).join(b);
        if from.exists() {
            copy(&from, &bin_dir.join(b))?;
        } else {
            eprintln!("xtask: {} not built; left out", from.display());
        }
    }
    let packaging = project.join("packaging");
    copy(&packaging.join("bin/system"), &bin_dir.join("system"))?;
    for (dir, to) in [
        ("systemd", "lib/systemd/system"),
        ("templates", "usr/share/sonic-ctrmgr/templates"),
    ] {
        for f in std::fs::read_dir(packaging.join(dir))? {
            let f = f?.path();
            if let Some(name) = f.file_name() {
                copy(&f, &root.join(to).join(name))?;
            }
        }
    }
    copy(
        &packaging.join("ctrmgr.json"),
        &root.join("etc/sonic/ctrmgr.json"),
    )?;
    completions(root)
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// The files below the package root that `completions` writes, relative to it: for each binary
/// its bash, zsh and fish completions and one man page per command path.
pub fn generated_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for mut cmd in commands() {
        cmd.build();
        let name = cmd.get_name().to_owned();
        files.push(Path::new(BASH_DIR).join(&name));
        files.push(Path::new(ZSH_DIR).join(format!("_{name}")));
        files.push(Path::new(FISH_DIR).join(format!("{name}.fish")));
        for (path, _) in command_paths(&cmd) {
            files.push(Path::new(MAN_DIR).join(format!("{}.1", path.join("-"))));
        }
    }
    files
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod packaging_tests;
