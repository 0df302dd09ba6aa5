//! The shared setup: a redis-server on a unix socket, SONiC's database_config.json, the tunables.

use super::*;

/// A redis-server on a unix socket in the work dir, with SONiC's `database_config.json`, and
/// the tunables file the commands run with. The server is killed on drop.
#[derive(Debug)]
pub(super) struct Setup {
    pub(super) child: Child,
    pub(super) socket: PathBuf,
    pub(super) db_config: PathBuf,
    pub(super) tunables: PathBuf,
    pub(super) work: PathBuf,
}

impl Setup {
    pub(super) fn start(work: &Path) -> Result<Self> {
        for program in ["redis-server", "redis-cli"] {
            if cmd::on_path(program).is_none() {
                bail!("{program} is not on PATH: apt-get install redis-server");
            }
        }
        let socket = work.join("redis.sock");
        let mut server = Command::new("redis-server");
        server
            .args(["--port", "0", "--unixsocket"])
            .arg(&socket)
            .args(["--unixsocketperm", "700", "--dir"])
            .arg(work)
            .args(["--save", "", "--appendonly", "no"])
            .args(["--notify-keyspace-events", "AKE", "--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        eprintln!("$ {} &", cmd::display(&server));
        let mut child = server.spawn().context("cannot start redis-server")?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("redis-server's stdout was not captured");
        };
        // The server says when it accepts connections; the reader keeps draining its log so
        // that the pipe never fills.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut told = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !told
                    && line
                        .to_ascii_lowercase()
                        .contains("ready to accept connections")
                {
                    told = true;
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(DEADLINE).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            bail!("redis-server did not accept connections within {DEADLINE:?}");
        }
        let db_config = work.join("database_config.json");
        let tunables = work.join("ctrmgr.json");
        let setup = Self {
            child,
            socket,
            db_config,
            tunables,
            work: work.to_owned(),
        };
        fs::write(&setup.db_config, db_config_json(&setup.socket))
            .with_context(|| format!("cannot write {}", setup.db_config.display()))?;
        fs::write(&setup.tunables, setup.tunables_json())
            .with_context(|| format!("cannot write {}", setup.tunables.display()))?;
        Ok(setup)
    }

    /// The tunables: locks in the work dir, `true` as systemctl; the rest default.
    pub(super) fn tunables_json(&self) -> String {
        format!(
            "{{\"lock_dir\": {}, \"systemctl\": \"true\"}}\n",
            json_string(&self.work.join("locks").to_string_lossy())
        )
    }

    /// `redis-cli` on this server's DB `db`.
    pub(super) fn cli(&self, db: u32) -> Command {
        let mut c = quiet("redis-cli");
        c.arg("-s").arg(&self.socket).args(["-n", &db.to_string()]);
        c
    }

    /// Runs one redis-cli command and answers its output.
    pub(super) fn query(&self, db: u32, args: &[&str]) -> Result<String> {
        let mut c = self.cli(db);
        c.args(args).stdout(Stdio::piped());
        output(&mut c)
    }

    /// One of our binaries with this setup's DB config and tunables.
    pub(super) fn ours(&self, bin: &Path, args: &[&str]) -> Command {
        let mut c = quiet(bin);
        c.arg("--db-config")
            .arg(&self.db_config)
            .arg("--config")
            .arg(&self.tunables)
            .args(args);
        c
    }

    /// CONFIG_DB `FEATURE|ctrmgr-bench`: owned by the local image, no fallback; STATE_DB
    /// empty for it (INIT).
    pub(super) fn seed_feature(&self) -> Result<()> {
        let key = feature_key();
        self.query(
            codec::DEFAULT_CONFIG_DB_ID,
            &[
                "HSET",
                &key,
                codec::SET_OWNER,
                codec::OWNER_LOCAL,
                codec::FALLBACK_TO_LOCAL,
                codec::FALSE,
            ],
        )?;
        self.clear_record()
    }

    /// Deletes STATE_DB `FEATURE|ctrmgr-bench` (INIT).
    pub(super) fn clear_record(&self) -> Result<()> {
        self.query(codec::DEFAULT_STATE_DB_ID, &["DEL", &feature_key()])
            .map(drop)
    }

    /// Records [`RECORDED_ID`] as the local owner in STATE_DB (state LOCAL).
    pub(super) fn record_owner(&self) -> Result<()> {
        self.query(
            codec::DEFAULT_STATE_DB_ID,
            &[
                "HSET",
                &feature_key(),
                codec::CURRENT_OWNER,
                codec::OWNER_LOCAL,
                codec::DOCKER_ID,
                RECORDED_ID,
            ],
        )
        .map(drop)
    }

    /// STATE_DB `FEATURE|ctrmgr-bench` `field`.
    pub(super) fn record_field(&self, field: &str) -> Result<String> {
        self.query(codec::DEFAULT_STATE_DB_ID, &["HGET", &feature_key(), field])
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SONiC's `database_config.json` for a redis-server on `socket`: CONFIG_DB and STATE_DB
/// under their default ids.
pub(super) fn db_config_json(socket: &Path) -> String {
    let db = |id: u32| {
        format!(
            "{{\"id\": {id}, \"separator\": {}, \"instance\": \"redis\"}}",
            json_string(codec::DEFAULT_SEPARATOR)
        )
    };
    format!(
        "{{\n  \"INSTANCES\": {{\"redis\": {{\"unix_socket_path\": {}}}}},\n  \
         \"DATABASES\": {{\n    {}: {},\n    {}: {}\n  }},\n  \"VERSION\": \"1.0\"\n}}\n",
        json_string(&socket.to_string_lossy()),
        json_string(codec::CONFIG_DB),
        db(codec::DEFAULT_CONFIG_DB_ID),
        json_string(codec::STATE_DB),
        db(codec::DEFAULT_STATE_DB_ID),
    )
}

/// `FEATURE|ctrmgr-bench`.
pub(super) fn feature_key() -> String {
    codec::row_key(codec::FEATURE_TABLE, codec::DEFAULT_SEPARATOR, FEATURE)
}

/// A JSON string literal.
pub(super) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
