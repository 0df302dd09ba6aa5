//! The fish completion script, generated from the clap definition at every depth.
//! clap_complete's fish generator stops three words after the binary (`sonic-kube config
//! kubernetes server` gets no `ip|port|…`); this one walks the whole command tree. Each line
//! completes one word under a condition on the words typed so far: a function of the script,
//! `__<bin>_at N WORD…`, is true when the words that are no options (nor an option's value) are
//! exactly `WORD…` followed by `N` more (the positional arguments already given).

use std::fmt::Write as _;

/// The fish function name prefix of `bin` (`sonic-kube` → `__sonic_kube`).
pub fn function_prefix(bin: &str) -> String {
    format!(
        "__{}",
        bin.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    )
}

/// The line that completes the subcommand `word` after the command words `parent` (the binary
/// left out) of `bin`; the test looks for it.
pub fn subcommand_line(bin: &str, parent: &[String], word: &str) -> String {
    format!(
        "complete -c {bin} -f -n {} -a {}",
        quote(&condition(bin, 0, parent)),
        quote(word)
    )
}

/// `'…'` for fish: backslash and single quote escaped.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `extra`: the number of words after `path`, `any` for any number.
fn condition(bin: &str, extra: impl std::fmt::Display, path: &[String]) -> String {
    let mut c = format!("{}_at {extra}", function_prefix(bin));
    for w in path {
        c.push(' ');
        c.push_str(w);
    }
    c
}

/// The first line of a command's or argument's help, for `-d`.
fn about(s: Option<&clap::builder::StyledStr>) -> Option<String> {
    let text = s?.to_string();
    let line = text.lines().next()?.trim().to_owned();
    (!line.is_empty()).then_some(line)
}

/// The script for `cmd` (built or not).
pub fn script(cmd: &clap::Command) -> String {
    let mut cmd = cmd.clone();
    cmd.build();
    let bin = cmd.get_name().to_owned();
    let f = function_prefix(&bin);
    let mut value_options = Vec::new();
    collect_value_options(&cmd, &mut value_options);
    value_options.sort();
    value_options.dedup();
    let mut out = format!(
        "# fish completion for {bin}, generated from its clap definition (cargo xtask completions).\n\
         \n\
         # True when the words typed after {bin} that are no options (nor an option's value) are\n\
         # the words given after N, followed by exactly N more (any number when N is `any`).\n\
         function {f}_at\n    \
             set -l extra $argv[1]\n    \
             set -l want $argv[2..-1]\n    \
             set -l value_options {}\n    \
             set -l words (commandline -opc)\n    \
             set -l seen\n    \
             set -l skip 0\n    \
             for w in $words[2..-1]\n        \
                 if test $skip = 1\n            \
                     set skip 0\n        \
                 else if contains -- $w $value_options\n            \
                     set skip 1\n        \
                 else if not string match -q -- '-*' $w\n            \
                     set -a seen $w\n        \
                 end\n    \
             end\n    \
             if test $extra = any\n        \
                 test (count $seen) -ge (count $want); or return 1\n    \
             else\n        \
                 test (count $seen) -eq (math (count $want) + $extra); or return 1\n    \
             end\n    \
             for i in (seq (count $want))\n        \
                 test \"$seen[$i]\" = \"$want[$i]\"; or return 1\n    \
             end\n\
         end\n\n",
        value_options.join(" ")
    );
    out.push_str(&format!("complete -c {bin} -e\n"));
    walk(&bin, &cmd, &[], &mut out);
    out
}

/// Every option spelling (`--db-config`, `-o`) that takes a value, anywhere in the tree.
fn collect_value_options(cmd: &clap::Command, out: &mut Vec<String>) {
    for a in cmd
        .get_arguments()
        .filter(|a| takes_value(a) && !a.is_positional())
    {
        if let Some(l) = a.get_long() {
            out.push(format!("--{l}"));
        }
        if let Some(s) = a.get_short() {
            out.push(format!("-{s}"));
        }
    }
    for s in cmd.get_subcommands() {
        collect_value_options(s, out);
    }
}

fn takes_value(a: &clap::Arg) -> bool {
    a.get_num_args().is_some_and(|n| n.takes_values())
}

fn walk(bin: &str, cmd: &clap::Command, path: &[String], out: &mut String) {
    let subs: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "help" && !s.is_hide_set())
        .collect();
    for s in &subs {
        let mut line = subcommand_line(bin, path, s.get_name());
        if let Some(d) = about(s.get_about()) {
            let _ = write!(line, " -d {}", quote(&d));
        }
        out.push_str(&line);
        out.push('\n');
    }
    arguments(bin, cmd, path, out);
    for s in subs {
        let mut p = path.to_vec();
        p.push(s.get_name().to_owned());
        walk(bin, s, &p, out);
    }
}

/// The options of the command at `path` (offered while no more words follow it) and the
/// values of its positional arguments (offered at their position).
fn arguments(bin: &str, cmd: &clap::Command, path: &[String], out: &mut String) {
    // A command without subcommands takes its options after its positional arguments too.
    let here = if cmd.has_subcommands() {
        quote(&condition(bin, 0, path))
    } else {
        quote(&condition(bin, "any", path))
    };
    for a in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
        let values: Vec<String> = a
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_owned())
            .collect();
        if a.is_positional() {
            if values.is_empty() {
                continue;
            }
            let position = a.get_index().unwrap_or(1).saturating_sub(1);
            let _ = writeln!(
                out,
                "complete -c {bin} -f -n {} -a {}",
                quote(&condition(bin, position, path)),
                quote(&values.join(" "))
            );
            continue;
        }
        let mut line = format!("complete -c {bin} -n {here}");
        if let Some(s) = a.get_short() {
            let _ = write!(line, " -s {s}");
        }
        if let Some(l) = a.get_long() {
            let _ = write!(line, " -l {l}");
        }
        if a.get_short().is_none() && a.get_long().is_none() {
            continue;
        }
        if !values.is_empty() {
            let _ = write!(line, " -x -a {}", quote(&values.join(" ")));
        } else if takes_value(a) {
            line.push_str(" -r");
        }
        if let Some(d) = about(a.get_help()) {
            let _ = write!(line, " -d {}", quote(&d));
        }
        out.push_str(&line);
        out.push('\n');
    }
}
