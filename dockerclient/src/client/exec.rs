//! [`DockerClient::exec`]: a command in a running container, its input and output copied.

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use ctrmgr_core::ports::ExitStatus;
use ctrmgr_core::types::ContainerId;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::{DockerClient, container};

/// The operation named in exec errors.
const OP: &str = "exec in";

/// The output of an attached exec, as bollard streams it.
type Output = std::pin::Pin<
    Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>,
>;

/// The input of an attached exec.
type Input = std::pin::Pin<Box<dyn AsyncWrite + Send>>;
use crate::error::Error;
use crate::spec::*;

impl DockerClient {
    /// Runs a command in a running container, like `docker exec`: copies `stdin` (when
    /// given) to the command until it ends, writes the command's stdout and stderr to the
    /// given writers as they arrive (with a terminal, everything goes to `stdout`), and
    /// returns the command's exit code once its output has ended.
    ///
    /// The command's end, not the end of `stdin`, ends the exec: a `stdin` still waiting for
    /// input is dropped then. (A `tokio::io::stdin()` read in flight keeps a blocking thread
    /// until it returns; a command-line tool exits the process after the exec.) The terminal
    /// size of a `tty` exec is the engine's default.
    pub async fn exec(
        &self,
        id: &ContainerId,
        spec: &ExecSpec,
        stdin: Option<&mut (dyn AsyncRead + Unpin + Send)>,
        stdout: &mut (dyn AsyncWrite + Unpin + Send),
        stderr: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<ExitStatus, Error> {
        let (exec_id, mut output, input) = self.start_attached(id, spec, stdin.is_some()).await?;
        let io_error = |source| Error::Io {
            op: OP,
            target: container(id),
            source,
        };

        let feed = async move {
            let mut input = input;
            if let Some(stdin) = stdin {
                tokio::io::copy(stdin, &mut input).await?;
                // Half-close: the command reads end-of-file.
                input.shutdown().await?;
            }
            Ok::<(), std::io::Error>(())
        };
        tokio::pin!(feed);
        let mut feeding = true;
        loop {
            tokio::select! {
                chunk = output.next() => match chunk {
                    None => break,
                    Some(Ok(LogOutput::StdErr { message })) => {
                        stderr.write_all(&message).await.map_err(io_error)?;
                        stderr.flush().await.map_err(io_error)?;
                    }
                    Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                        stdout.write_all(&message).await.map_err(io_error)?;
                        stdout.flush().await.map_err(io_error)?;
                    }
                    Some(Ok(LogOutput::StdIn { .. })) => {}
                    Some(Err(e)) => return Err(Error::engine(OP, container(id), e)),
                },
                fed = &mut feed, if feeding => {
                    feeding = false;
                    // The command may exit before reading all its input; its output and exit
                    // code still tell what happened.
                    if let Err(e) = fed {
                        tracing::debug!(container = %id, error = %e, "exec: stdin copy ended early");
                    }
                }
            }
        }

        self.exit_code(id, &exec_id).await
    }

    /// Creates the exec of `spec` in `id` and starts it attached: its id, output and input.
    async fn start_attached(
        &self,
        id: &ContainerId,
        spec: &ExecSpec,
        attach_stdin: bool,
    ) -> Result<(String, Output, Input), Error> {
        let options = CreateExecOptions {
            attach_stdin: Some(attach_stdin),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(spec.tty),
            env: (!spec.env.is_empty()).then(|| spec.env.clone()),
            cmd: Some(spec.cmd.clone()),
            user: spec.user.clone(),
            working_dir: spec.working_dir.clone(),
            ..CreateExecOptions::default()
        };
        let exec_id = self
            .docker
            .create_exec(id.as_str(), options)
            .await
            .map_err(|e| Error::engine(OP, container(id), e))?
            .id;
        let start = StartExecOptions {
            detach: false,
            tty: spec.tty,
            output_capacity: None,
        };
        let started = self
            .docker
            .start_exec(&exec_id, Some(start))
            .await
            .map_err(|e| Error::engine(OP, container(id), e))?;
        match started {
            StartExecResults::Attached { output, input } => Ok((exec_id, output, input)),
            StartExecResults::Detached => Err(Error::Unexpected {
                op: OP,
                target: container(id),
                detail: "the engine started the exec detached".to_owned(),
            }),
        }
    }

    /// The exit code of the ended exec `exec_id` in `id`.
    async fn exit_code(&self, id: &ContainerId, exec_id: &str) -> Result<ExitStatus, Error> {
        let inspected = self
            .docker
            .inspect_exec(exec_id)
            .await
            .map_err(|e| Error::engine(OP, container(id), e))?;
        match inspected.exit_code {
            Some(code) => Ok(ExitStatus { code }),
            None => Err(Error::Unexpected {
                op: OP,
                target: container(id),
                detail: "the engine reported no exit code after the output ended".to_owned(),
            }),
        }
    }
}
