//! The generated completions and man pages, and the package layout of `cargo xtask dist`.

use super::*;

/// Every binary's completions (bash, zsh, fish) are produced and mention every subcommand at
/// every depth (fish: each word completed under the condition of the words before it); every
/// command and subcommand has a man page naming its subcommands.
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
    let mut fish_words = 0;
    for cmd in &cmds {
        let written = generate(cmd, dir.path()).expect("generated");
        let name = cmd.get_name();
        let mut built = cmd.clone();
        built.build();
        let paths = command_paths(&built);
        let read = |file: &Path| {
            assert!(
                written.contains(&file.to_owned()),
                "{} written",
                file.display()
            );
            std::fs::read_to_string(file).expect("completion file")
        };
        let bash = read(&dir.path().join(BASH_DIR).join(name));
        let zsh = read(&dir.path().join(ZSH_DIR).join(format!("_{name}")));
        let fish = read(&dir.path().join(FISH_DIR).join(format!("{name}.fish")));
        for (path, _) in &paths[1..] {
            let (word, parent) = path.split_last().expect("a word");
            assert!(bash.contains(word.as_str()), "bash lacks {path:?}");
            assert!(zsh.contains(word.as_str()), "zsh lacks {path:?}");
            let line = fish::subcommand_line(name, &parent[1..], word);
            assert!(
                fish.lines()
                    .any(|l| l.starts_with(&format!("{line} ")) || l == line),
                "fish lacks {path:?}: no line {line}"
            );
            fish_words += 1;
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
    assert!(fish_words > 40, "{fish_words} subcommand words");
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

/// The layout `cargo xtask dist` writes to target/dist/root has every completion and man page
/// of every binary, the daemon units (the migrate unit among them) and the packaging files.
#[test]
fn the_package_layout_has_every_completion_man_page_and_unit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("stale")).expect("stale dir");
    layout(&crate::project_root(), "dev", &root).expect("layout");
    assert!(!root.join("stale").exists(), "the root is emptied first");
    let files = generated_files();
    assert!(files.len() > 50, "{files:?}");
    for f in &files {
        assert!(root.join(f).is_file(), "{} missing", f.display());
    }
    for f in [
        "usr/share/man/man1/sonic-kube-config-kubernetes-server-ip.1",
        "usr/share/fish/vendor_completions.d/container.fish",
        "usr/share/zsh/vendor-completions/_kube-monit",
        "lib/systemd/system/sonic-ctrmgr-migrate.service",
        "lib/systemd/system/hostcfgd-watcher.service",
        "lib/systemd/system/kube-monit.service",
        "lib/systemd/system/kube-labeler.service",
        "usr/share/sonic-ctrmgr/templates/feature.service.j2",
        "etc/sonic/ctrmgr.json",
        "usr/bin/system",
    ] {
        assert!(root.join(f).is_file(), "{f} missing");
    }
}

/// fish: sonic-kube's deepest words, an option of a leaf command, positional values, and the
/// options whose value is skipped when the words are counted.
#[test]
fn fish_completes_the_deepest_words_options_and_values() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cmd = commands().remove(0);
    assert_eq!(cmd.get_name(), "sonic-kube");
    generate(&cmd, dir.path()).expect("generated");
    let fish = std::fs::read_to_string(dir.path().join(FISH_DIR).join("sonic-kube.fish"))
        .expect("fish completion");
    for line in [
        "complete -c sonic-kube -f -n '__sonic_kube_at 0 config kubernetes server' -a 'ip' -d ",
        "complete -c sonic-kube -f -n '__sonic_kube_at 0 config kubernetes label' -a 'drop' -d ",
        "complete -c sonic-kube -f -n '__sonic_kube_at 0 show kubernetes server' -a 'status' -d ",
        "complete -c sonic-kube -n '__sonic_kube_at any config kubernetes join' -s f -l force -d ",
        "complete -c sonic-kube -f -n '__sonic_kube_at 1 config feature owner' -a 'local kube'",
        "complete -c sonic-kube -f -n '__sonic_kube_at 0 config kubernetes server insecure' -a 'on off'",
    ] {
        assert!(
            fish.lines().any(|l| l.starts_with(line)),
            "fish lacks {line}\n{fish}"
        );
    }
    assert!(fish.contains("set -l value_options --config --db-config --kubeconfig"));
}

/// The fish scripts, run by fish: at every command path of every binary, `complete -C` after
/// the words (and after them with `--db-config PATH` in front, an option whose value is not a
/// word) offers exactly the subcommands. Without fish the test says so and passes, unless
/// `CTRMGR_REQUIRE_PACKAGING=1` (CI, whose .ci/run installs fish).
#[test]
fn fish_itself_completes_every_subcommand_at_every_depth() {
    if crate::cmd::on_path("fish").is_none() {
        assert!(
            !std::env::var("CTRMGR_REQUIRE_PACKAGING").is_ok_and(|v| v == "1"),
            "fish is not on PATH (apt-get install fish) and CTRMGR_REQUIRE_PACKAGING=1"
        );
        eprintln!("skipped: fish is not on PATH (apt-get install fish)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    for cmd in commands() {
        generate(&cmd, dir.path()).expect("generated");
        let name = cmd.get_name().to_owned();
        let script = dir.path().join(FISH_DIR).join(format!("{name}.fish"));
        let mut built = cmd.clone();
        built.build();
        for (path, c) in command_paths(&built) {
            let mut want: Vec<&str> = c
                .get_subcommands()
                .map(clap::Command::get_name)
                .filter(|n| *n != "help")
                .collect();
            if want.is_empty() {
                continue;
            }
            want.sort_unstable();
            let words = path.join(" ");
            let global = format!("{name} --db-config /x {}", path[1..].join(" "));
            for line in [words, global.trim_end().to_owned()] {
                let out = std::process::Command::new("fish")
                    .args(["--no-config", "-c"])
                    .arg(format!(
                        "source {}; complete -C '{line} '",
                        script.display()
                    ))
                    .output()
                    .expect("run fish");
                assert!(out.status.success(), "fish: {out:?}");
                let text = String::from_utf8_lossy(&out.stdout);
                let mut got: Vec<&str> = text
                    .lines()
                    .filter_map(|l| l.split('\t').next())
                    .filter(|w| !w.starts_with('-'))
                    .collect();
                got.sort_unstable();
                assert_eq!(got, want, "fish after `{line} `");
            }
        }
    }
}
