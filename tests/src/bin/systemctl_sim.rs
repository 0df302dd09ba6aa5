//! `systemctl-sim`: the `systemctl` program of the systemd simulator
//! (`ctrmgr_tests::systemd`). Sends its arguments to the supervisor's socket
//! (`systemd.sock` next to the path it was run as, or `$CTRMGR_SYSTEMD_SOCKET`), prints what
//! the supervisor answers and exits with its status, as systemctl would.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;

use ctrmgr_tests::systemd::{Reply, Request, SOCKET};

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let argv0 = args.next().map(PathBuf::from).unwrap_or_default();
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    let socket = std::env::var_os("CTRMGR_SYSTEMD_SOCKET").map_or_else(
        || {
            argv0
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join(SOCKET)
        },
        PathBuf::from,
    );
    match call(&socket, args) {
        Ok(reply) => {
            print!("{}", reply.stdout);
            eprint!("{}", reply.stderr);
            ExitCode::from(u8::try_from(reply.code).unwrap_or(1))
        }
        Err(e) => {
            eprintln!(
                "System has not been booted with systemd as init system (PID 1). Can't operate. ({}: {e})",
                socket.display()
            );
            ExitCode::from(1)
        }
    }
}

fn call(socket: &std::path::Path, args: Vec<String>) -> std::io::Result<Reply> {
    let mut s = UnixStream::connect(socket)?;
    let mut line = serde_json::to_string(&Request { args })?;
    line.push('\n');
    s.write_all(line.as_bytes())?;
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer)?;
    Ok(serde_json::from_str(&answer)?)
}
