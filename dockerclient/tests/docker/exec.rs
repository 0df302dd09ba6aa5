//! exec: output, exit code, terminal, standard input.

use ctrmgr_core::ports::ErrorKind;
use ctrmgr_dockerclient::ExecSpec;
use ctrmgr_dockerclient::testing::{TRAP_TERM, TestContainer, TestDocker};

use crate::engine;

async fn running(docker: &TestDocker, prefix: &str) -> TestContainer {
    let c = docker
        .container(prefix, &TRAP_TERM)
        .await
        .expect("a container");
    docker.client().start(c.id()).await.expect("start");
    c
}

#[tokio::test]
async fn exec_returns_output_and_exit_code() {
    let Some(docker) = engine().await else { return };
    let c = running(&docker, "exec").await;
    let spec = ExecSpec::new(&["/bin/sh", "-c", "echo out; echo err >&2; exit 5"]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = docker
        .client()
        .exec(c.id(), &spec, None, &mut out, &mut err)
        .await
        .expect("exec");
    assert_eq!(status.code, 5);
    assert_eq!(String::from_utf8_lossy(&out), "out\n");
    assert_eq!(String::from_utf8_lossy(&err), "err\n");
}

#[tokio::test]
async fn exec_with_a_terminal_sends_everything_to_stdout() {
    let Some(docker) = engine().await else { return };
    let c = running(&docker, "tty").await;
    let mut spec = ExecSpec::new(&["/bin/sh", "-c", "echo out; echo err >&2; [ -t 1 ]"]);
    spec.tty = true;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = docker
        .client()
        .exec(&c.name_as_id(), &spec, None, &mut out, &mut err)
        .await
        .expect("exec");
    assert_eq!(status.code, 0, "stdout is a terminal");
    assert_eq!(String::from_utf8_lossy(&out), "out\r\nerr\r\n");
    assert!(err.is_empty());
}

#[tokio::test]
async fn exec_feeds_stdin_to_the_command_until_its_end() {
    let Some(docker) = engine().await else { return };
    let c = running(&docker, "stdin").await;
    let spec = ExecSpec::new(&["/bin/sh", "-c", "cat; echo done >&2"]);
    let mut input: &[u8] = b"hello\nworld\n";
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = docker
        .client()
        .exec(c.id(), &spec, Some(&mut input), &mut out, &mut err)
        .await
        .expect("exec");
    assert_eq!(status.code, 0);
    assert_eq!(String::from_utf8_lossy(&out), "hello\nworld\n");
    assert_eq!(String::from_utf8_lossy(&err), "done\n");
}

#[tokio::test]
async fn exec_ends_with_the_command_even_when_stdin_has_not_ended() {
    let Some(docker) = engine().await else { return };
    let c = running(&docker, "stdin-open").await;
    let spec = ExecSpec::new(&["/bin/sh", "-c", "read line; echo got $line; exit 7"]);
    // A reader that gives one line and then never ends, like an idle terminal.
    let (mut writer, mut reader) = tokio::io::duplex(64);
    tokio::io::AsyncWriteExt::write_all(&mut writer, b"one\n")
        .await
        .expect("queue input");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = docker
        .client()
        .exec(c.id(), &spec, Some(&mut reader), &mut out, &mut err)
        .await
        .expect("exec");
    assert_eq!(status.code, 7);
    assert_eq!(String::from_utf8_lossy(&out), "got one\n");
    drop(writer);
}

#[tokio::test]
async fn exec_passes_environment_user_and_working_directory() {
    let Some(docker) = engine().await else { return };
    let c = running(&docker, "env").await;
    let mut spec = ExecSpec::new(&["/bin/sh", "-c", "echo $GREETING $(id -u) $(pwd)"]);
    spec.env = vec!["GREETING=hi".to_owned()];
    spec.user = Some("root".to_owned());
    spec.working_dir = Some("/tmp".to_owned());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = docker
        .client()
        .exec(c.id(), &spec, None, &mut out, &mut err)
        .await
        .expect("exec");
    assert_eq!(status.code, 0, "{}", String::from_utf8_lossy(&err));
    assert_eq!(String::from_utf8_lossy(&out), "hi 0 /tmp\n");
}

#[tokio::test]
async fn exec_in_a_container_that_does_not_run_is_a_conflict() {
    let Some(docker) = engine().await else { return };
    let c = docker
        .container("exec-stopped", &TRAP_TERM)
        .await
        .expect("a container");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let e = docker
        .client()
        .exec(
            c.id(),
            &ExecSpec::new(&["/bin/true"]),
            None,
            &mut out,
            &mut err,
        )
        .await
        .expect_err("not running");
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e:#}");
    assert!(e.to_string().contains(c.id().as_str()), "{e}");
}
