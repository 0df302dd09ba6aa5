//! The command lines of the five binaries: their clap definitions, included from their
//! sources as `cargo xtask dist` includes them, parsed in-process with hostile argv.

use clap::{CommandFactory as _, Parser as _};

use crate::Verdict;

#[allow(dead_code, unreachable_pub)]
#[path = "../../bins/container-cmd/src/cli.rs"]
mod container_cli;

#[allow(dead_code, unreachable_pub)]
#[path = "../../bins/kube-labeler/src/cli.rs"]
mod kube_labeler_cli;

#[allow(dead_code, unreachable_pub)]
#[path = "../../bins/hostcfgd-watcher/src/cli.rs"]
mod hostcfgd_watcher_cli;

#[allow(dead_code, unreachable_pub)]
#[path = "../../bins/kube-monit/src/cli.rs"]
mod kube_monit_cli;

/// One of the binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binary {
    /// `container`.
    Container,
    /// `kube-labeler`.
    KubeLabeler,
    /// `hostcfgd-watcher`.
    HostcfgdWatcher,
    /// `kube-monit`.
    KubeMonit,
    /// `sonic-kube`.
    SonicKube,
}

/// Every binary.
pub const BINARIES: [Binary; 5] = [
    Binary::Container,
    Binary::KubeLabeler,
    Binary::HostcfgdWatcher,
    Binary::KubeMonit,
    Binary::SonicKube,
];

impl Binary {
    /// The program's name.
    pub fn name(self) -> &'static str {
        match self {
            Binary::Container => "container",
            Binary::KubeLabeler => "kube-labeler",
            Binary::HostcfgdWatcher => "hostcfgd-watcher",
            Binary::KubeMonit => "kube-monit",
            Binary::SonicKube => "sonic-kube",
        }
    }

    /// The clap definition.
    pub fn command(self) -> clap::Command {
        match self {
            Binary::Container => container_cli::Cli::command(),
            Binary::KubeLabeler => kube_labeler_cli::Cli::command(),
            Binary::HostcfgdWatcher => hostcfgd_watcher_cli::Cli::command(),
            Binary::KubeMonit => kube_monit_cli::Cli::command(),
            Binary::SonicKube => sonic_kube::command(),
        }
    }

    /// Parses `argv` (without the program name) as the binary's `main` does.
    pub fn parse(self, argv: &[String]) -> Result<(), clap::Error> {
        let args = std::iter::once(self.name().to_owned()).chain(argv.iter().cloned());
        match self {
            Binary::Container => container_cli::Cli::try_parse_from(args).map(drop),
            Binary::KubeLabeler => kube_labeler_cli::Cli::try_parse_from(args).map(drop),
            Binary::HostcfgdWatcher => hostcfgd_watcher_cli::Cli::try_parse_from(args).map(drop),
            Binary::KubeMonit => kube_monit_cli::Cli::try_parse_from(args).map(drop),
            Binary::SonicKube => sonic_kube::cli::Cli::try_parse_from(args).map(drop),
        }
    }

    /// The usage error the binary prints for `e` (`full`: the program name, then the argv).
    pub fn usage_error(self, e: &clap::Error, full: &[String]) -> String {
        match self {
            Binary::Container => ctrmgr_bin::usage_error::<container_cli::Cli, _>(e, full),
            Binary::KubeLabeler => ctrmgr_bin::usage_error::<kube_labeler_cli::Cli, _>(e, full),
            Binary::HostcfgdWatcher => {
                ctrmgr_bin::usage_error::<hostcfgd_watcher_cli::Cli, _>(e, full)
            }
            Binary::KubeMonit => ctrmgr_bin::usage_error::<kube_monit_cli::Cli, _>(e, full),
            Binary::SonicKube => ctrmgr_bin::usage_error::<sonic_kube::cli::Cli, _>(e, full),
        }
    }

    /// The words of its command line: every subcommand, option and documented value.
    pub fn words(self) -> Vec<String> {
        fn walk(cmd: &clap::Command, out: &mut Vec<String>) {
            for a in cmd.get_arguments() {
                if let Some(l) = a.get_long() {
                    out.push(format!("--{l}"));
                }
                if let Some(s) = a.get_short() {
                    out.push(format!("-{s}"));
                }
                out.extend(
                    a.get_possible_values()
                        .iter()
                        .map(|v| v.get_name().to_owned()),
                );
            }
            for sub in cmd.get_subcommands() {
                out.push(sub.get_name().to_owned());
                walk(sub, out);
            }
        }
        let mut out = vec!["--".to_owned(), "snmp".to_owned(), "-".to_owned()];
        walk(&self.command(), &mut out);
        out.sort();
        out.dedup();
        out
    }
}

/// A hostile command line: clap's parse never panics; a rejection is a usage error (exit
/// status 2) whose text starts with one `error: …` line, and no line break or terminal escape
/// of the argv reaches the text raw.
pub fn cli(bin: Binary, argv: &[String]) -> Verdict {
    let mut v = Verdict::default();
    let Err(e) = bin.parse(argv) else {
        return v;
    };
    use clap::error::ErrorKind as K;
    if matches!(
        e.kind(),
        K::DisplayHelp | K::DisplayVersion | K::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return v;
    }
    v.rejected = true;
    if e.exit_code() != 2 {
        v.violation(format!("exit status {} for a usage error", e.exit_code()));
    }
    let full: Vec<String> = std::iter::once(bin.name().to_owned())
        .chain(argv.iter().cloned())
        .collect();
    let text = bin.usage_error(&e, &full);
    if !text.starts_with("error: ") {
        v.violation(format!(
            "the usage error does not start with `error: `: {text:?}"
        ));
    }
    if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\n') {
        v.violation(format!("the usage error holds {c:?}: {text:?}"));
    }
    // clap's own lines (the usage, the hint) end with line breaks an argument may match.
    let said: String = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more"))
        .map(|l| format!("{l}\n"))
        .collect();
    for a in argv {
        // A line break inside the argument, or at its end where clap's quote follows it.
        // (Text on both sides of the break: `"\n "` alone is also clap's own indentation.)
        let inside = a
            .trim_end_matches(['\n', '\r'])
            .split_once(['\n', '\r'])
            .is_some_and(|(before, after)| {
                before.trim().chars().count() >= 2 && after.trim().chars().count() >= 2
            });
        let at_end = a.ends_with(['\n', '\r']);
        if (inside && said.contains(a.as_str())) || (at_end && said.contains(&format!("{a}'"))) {
            v.violation(format!("the usage error repeats {a:?} with its line break"));
        }
    }
    v
}
