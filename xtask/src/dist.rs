//! `cargo xtask dist`: the package layout of sonic-ctrmgr in `target/dist/root/` — the binaries
//! (built with the `dist` profile), the files of `packaging/`, and, generated from the clap
//! definitions of the binaries, shell completions (bash, zsh, fish) and man pages (one per
//! command and subcommand).
//!
//! The clap definitions are read from each binary's `src/cli.rs` (clap derive, ctrmgr-core's
//! name types and ctrmgr-bin's global options only), included here as modules.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::CommandFactory as _;

use crate::cmd;

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
        (Shell::Bash, BASH_DIR, name.clone()),
        (Shell::Zsh, ZSH_DIR, format!("_{name}")),
        (Shell::Fish, FISH_DIR, format!("{name}.fish")),
    ] {
        let dir = root.join(dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd.clone(), &name, &mut buf);
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

/// `cargo xtask dist [--no-build]`.
pub fn run(project: &Path, build: bool) -> Result<()> {
    let root = project.join("target/dist/root");
    if root.exists() {
        std::fs::remove_dir_all(&root)
            .with_context(|| format!("cannot clear {}", root.display()))?;
    }
    if build {
        let mut c = cmd::cargo(project);
        c.args(["build", "--profile", "dist"]);
        for b in BINARIES {
            c.args(["--bin", b]);
        }
        cmd::run(&mut c)?;
    }
    let bin_dir = root.join("usr/bin");
    std::fs::create_dir_all(&bin_dir)?;
    for b in BINARIES {
        let from = project.join("target/dist").join(b);
        if from.exists() {
            copy(&from, &bin_dir.join(b))?;
        } else {
            eprintln!("xtask: {} not built; left out", from.display());
        }
    }
    let packaging = project.join("packaging");
    copy(&packaging.join("bin/system"), &bin_dir.join("system"))?;
    copy(
        &packaging.join("systemd/kube-labeler.service"),
        &root.join("lib/systemd/system/kube-labeler.service"),
    )?;
    copy(
        &packaging.join("ctrmgr.json"),
        &root.join("etc/sonic/ctrmgr.json"),
    )?;
    for t in std::fs::read_dir(packaging.join("templates"))? {
        let t = t?.path();
        if let Some(name) = t.file_name() {
            copy(
                &t,
                &root.join("usr/share/sonic-ctrmgr/templates").join(name),
            )?;
        }
    }
    let mut n = 0;
    for c in commands() {
        n += generate(&c, &root)?.len();
    }
    eprintln!(
        "xtask: package layout in {} ({n} completion and man page files)",
        root.display()
    );
    Ok(())
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::copy(from, to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every binary's completions (bash, zsh, fish) are produced and mention every subcommand;
    /// every command and subcommand has a man page naming it.
    #[test]
    fn completions_and_man_pages_are_produced_for_every_subcommand() {
        let dir = tempfile::tempdir().expect("temp dir");
        let cmds = commands();
        let names: Vec<&str> = cmds.iter().map(clap::Command::get_name).collect();
        assert_eq!(
            names,
            [
                "sonic-kube",
                "kube-labeler",
                "container",
                "hostcfgd-watcher",
                "kube-monit"
            ]
        );
        for cmd in &cmds {
            let written = generate(cmd, dir.path()).expect("generated");
            let name = cmd.get_name();
            let mut built = cmd.clone();
            built.build();
            let paths = command_paths(&built);
            // clap_complete's fish script completes three words after the binary; bash and
            // zsh complete every level.
            for (file, depth) in [
                (dir.path().join(BASH_DIR).join(name), usize::MAX),
                (
                    dir.path().join(ZSH_DIR).join(format!("_{name}")),
                    usize::MAX,
                ),
                (dir.path().join(FISH_DIR).join(format!("{name}.fish")), 3),
            ] {
                assert!(written.contains(&file), "{} written", file.display());
                let text = std::fs::read_to_string(&file).expect("completion file");
                for (path, _) in paths[1..].iter().filter(|(p, _)| p.len() - 1 <= depth) {
                    let word = path.last().expect("a word");
                    assert!(
                        text.contains(word.as_str()),
                        "{} lacks {word}",
                        file.display()
                    );
                }
            }
            for (path, c) in &paths {
                let page = dir
                    .path()
                    .join(MAN_DIR)
                    .join(format!("{}.1", path.join("-")));
                // roff spells a hyphen `\-`.
                let text = std::fs::read_to_string(&page)
                    .unwrap_or_else(|e| panic!("{}: {e}", page.display()))
                    .replace("\\-", "-");
                assert!(text.starts_with(".ie \\n(.g .ds Aq"), "{}", page.display());
                assert!(text.contains(".SH NAME"), "{}", page.display());
                for sub in c.get_subcommands().filter(|s| s.get_name() != "help") {
                    assert!(
                        text.contains(sub.get_name()),
                        "{} lacks its subcommand {}",
                        page.display(),
                        sub.get_name()
                    );
                }
            }
        }
        // Spot checks of sonic-kube's words.
        let bash = std::fs::read_to_string(dir.path().join(BASH_DIR).join("sonic-kube"))
            .expect("bash completion");
        for w in [
            "kubernetes",
            "failure-detection",
            "install",
            "prepare",
            "migrate",
        ] {
            assert!(bash.contains(w), "{w}");
        }
        assert!(
            dir.path()
                .join(MAN_DIR)
                .join("sonic-kube-config-kubernetes-server.1")
                .exists()
        );
    }
}
