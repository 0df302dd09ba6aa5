//! `service install | remove | list` (the seed's "Service install for kube managed features",
//! Proposal 2). From a JSON spec, `install` renders with minijinja, from `packaging/templates/`:
//! the unit `/etc/systemd/system/<name>.service`, the script `/usr/local/bin/<name>.sh`, a
//! drop-in `/etc/systemd/system/<dependent>.service.d/ctrmgr-<name>.conf` for each unit that
//! depends on the feature, and the reboot hooks `/etc/sonic/ctrmgr/reboot.d/{warm,fast}/<name>.sh`;
//! it writes CONFIG_DB `FEATURE|<name>` and runs `systemctl daemon-reload`.
//!
//! Before it changes anything it writes a manifest, `/var/lib/ctrmgr/services/<name>.json`,
//! holding what each path and the row were before (content and mode, or absent) and which
//! directories it created; `remove` puts all of it back, byte for byte, and deletes the
//! manifest and those directories. A second `install` of the same spec changes nothing and
//! says so; an `install` of a changed spec updates the files and keeps the original "before".
//!
//! A spec with `multi_instance` (sonic-buildimage's `per_namespace` templates and their
//! `multi_instance` variable) also gets the template unit `/etc/systemd/system/<name>@.service`,
//! whose `ExecStartPre`/`ExecStart`/`ExecStop` pass `%i` to the script; the script then acts on
//! the container `<name><instance>` (docker_image_ctl.j2's `$DOCKERNAME$DEV`). For each of the
//! spec's `instances`, install writes the row `FEATURE|<name><instance>` as well, so that
//! `container` runs that instance as the spec says (an instance without a row runs its local
//! container, decisions u3).
//!
//! Every name is a validated feature name (`[a-z0-9][a-z0-9_-]{0,31}`) and every path is built
//! from fixed directories and such names, below `--root`; a symbolic link on the way is refused,
//! so nothing is written outside the root.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};

use anyhow::{Context as _, Result, bail};
use base64::Engine as _;
use ctrmgr_core::FeatureName;
use ctrmgr_core::codec::{self, Fields};
use ctrmgr_dbclient::DbName;
use minijinja::{Environment, UndefinedBehavior, context, syntax::SyntaxConfig};
use serde::{Deserialize, Serialize};

use crate::Ctx;
use crate::cli::ServiceCommand;
use crate::table::Table;

const UNIT_TEMPLATE: &str = include_str!("../../../packaging/templates/feature.service.j2");
const SCRIPT_TEMPLATE: &str = include_str!("../../../packaging/templates/feature.sh.j2");
const DROPIN_TEMPLATE: &str =
    include_str!("../../../packaging/templates/feature-dependent.conf.j2");
const HOOK_TEMPLATE: &str = include_str!("../../../packaging/templates/reboot-hook.sh.j2");

/// Where the manifests live, below the root.
const MANIFEST_DIR: &str = "var/lib/ctrmgr/services";

/// What `service install` reads: one feature's service, as the seed's Proposal 2 lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Spec {
    /// The feature: `[a-z0-9][a-z0-9_-]{0,31}`.
    name: String,
    /// The unit's Description (default "`<name> container`").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// Units this one requires and starts after.
    #[serde(default)]
    requires: Vec<String>,
    /// Units that require this one (each gets a drop-in).
    #[serde(default)]
    required_by: Vec<String>,
    /// The local image, or none for a kube-only feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    local_image: Option<String>,
    /// Arguments of `docker create` for the local container.
    #[serde(default)]
    docker_create_args: String,
    /// Shell lines run on the host before the container starts.
    #[serde(default)]
    pre_start: Vec<String>,
    /// Shell lines run after the container started.
    #[serde(default)]
    post_start: Vec<String>,
    /// Shell lines run before the container stops.
    #[serde(default)]
    pre_stop: Vec<String>,
    /// Shell lines run after the container stopped.
    #[serde(default)]
    post_stop: Vec<String>,
    /// Shell lines that prepare the feature for a warm reboot.
    #[serde(default)]
    warm_reboot: Vec<String>,
    /// Shell lines that prepare the feature for a fast reboot.
    #[serde(default)]
    fast_reboot: Vec<String>,
    /// `local` or `kube` (default kube: the seed's phase 1 is kube-only features).
    #[serde(default = "default_owner")]
    set_owner: String,
    /// `fallback_to_local` (default false).
    #[serde(default)]
    fallback: bool,
    /// The unit's `User=` (default root), as SONiC's own units (telemetry, pmon and lldp run as
    /// admin): `[a-z_][a-z0-9_-]{0,31}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    /// The unit's `TimeoutStopSec=`, seconds (default: systemd's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stop_timeout: Option<u32>,
    /// Also render the template unit `<name>@.service` (one instance per ASIC namespace or
    /// DPU, started by featured as `<name>@<n>.service`), as sonic-buildimage does for the
    /// templates in `per_namespace/` (`multi_instance == 'true'`); default false. The FEATURE
    /// row gets `has_per_asic_scope=True`.
    #[serde(default, skip_serializing_if = "is_false")]
    multi_instance: bool,
    /// With `multi_instance`: the instances (`0`, `1`, …, `dpu0`: `[a-z0-9]{1,8}`) whose
    /// container `<name><instance>` runs as this spec says; each gets its own FEATURE row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    instances: Vec<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn default_owner() -> String {
    codec::OWNER_KUBE.to_owned()
}

/// What a path held before install: its bytes (base64) and mode, or nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Before {
    content: Option<String>,
    mode: Option<u32>,
}

/// `/var/lib/ctrmgr/services/<name>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Manifest {
    spec: Spec,
    /// Every path install wrote (relative to the root), with what it held before.
    files: BTreeMap<String, Before>,
    /// Directories install created, in creation order (relative to the root).
    created_dirs: Vec<String>,
    /// CONFIG_DB `FEATURE|<name>` before install; `None` when there was no row.
    row_before: Option<Fields>,
    /// CONFIG_DB `FEATURE|<name><instance>` before install, for each instance install wrote.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    instance_rows_before: BTreeMap<String, Option<Fields>>,
}

pub(crate) async fn run(ctx: &Ctx, cmd: ServiceCommand) -> Result<ExitCode> {
    match cmd {
        ServiceCommand::Install { spec, root } => install(ctx, &spec, &root.root).await,
        ServiceCommand::Remove { feature, root } => remove(ctx, &feature, &root.root).await,
        ServiceCommand::List { root, json } => list(&root.root, json),
    }
}

// ---- validation -----------------------------------------------------------------------------

fn check_text(what: &str, v: &str) -> Result<()> {
    if let Some(c) = v.chars().find(|c| c.is_control()) {
        bail!("{what} {v:?} has the control character {c:?}: one line of text expected");
    }
    Ok(())
}

fn check_image(v: &str) -> Result<()> {
    let ok = !v.is_empty()
        && v.len() <= 255
        && v.as_bytes()[0].is_ascii_alphanumeric()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._/:@-".contains(&b));
    if !ok {
        bail!("local_image {v:?} is not an image reference ([A-Za-z0-9][A-Za-z0-9._/:@-]*)");
    }
    Ok(())
}

impl Spec {
    /// The container and feature name of an instance: `<name><instance>`.
    fn instance_feature(&self, instance: &str) -> String {
        format!("{}{instance}", self.name)
    }

    fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the spec {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid spec {}", path.display()))
    }

    /// Parses and checks the text of a spec.
    fn parse(text: &str) -> Result<Self> {
        let spec: Spec = serde_json::from_str(text)?;
        spec.check()?;
        Ok(spec)
    }

    fn check(&self) -> Result<()> {
        FeatureName::new(&self.name)?;
        for (what, list) in [
            ("requires", &self.requires),
            ("required_by", &self.required_by),
        ] {
            for u in list {
                FeatureName::new(u).with_context(|| format!("{what}: unit {u:?}"))?;
                if *u == self.name {
                    bail!("{what}: {u} is the feature itself");
                }
            }
        }
        if let Some(d) = &self.description {
            check_text("description", d)?;
        }
        if let Some(i) = &self.local_image {
            check_image(i)?;
        } else if !self.docker_create_args.is_empty() {
            bail!("docker_create_args without a local_image");
        }
        check_text("docker_create_args", &self.docker_create_args)?;
        for (what, lines) in [
            ("pre_start", &self.pre_start),
            ("post_start", &self.post_start),
            ("pre_stop", &self.pre_stop),
            ("post_stop", &self.post_stop),
            ("warm_reboot", &self.warm_reboot),
            ("fast_reboot", &self.fast_reboot),
        ] {
            for l in lines {
                check_text(what, l)?;
                if l.trim().is_empty() {
                    bail!("{what}: an empty line");
                }
            }
        }
        match self.set_owner.as_str() {
            codec::OWNER_KUBE => {}
            codec::OWNER_LOCAL if self.local_image.is_some() => {}
            codec::OWNER_LOCAL => bail!("set_owner local needs a local_image"),
            other => bail!("set_owner {other:?}: expected local or kube"),
        }
        if self.fallback && self.local_image.is_none() {
            bail!("fallback needs a local_image to fall back to");
        }
        if let Some(u) = &self.user {
            let b = u.as_bytes();
            let ok = !b.is_empty()
                && b.len() <= 32
                && (b[0].is_ascii_lowercase() || b[0] == b'_')
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-".contains(c));
            if !ok {
                bail!("user {u:?} is not a user name ([a-z_][a-z0-9_-]{{0,31}})");
            }
        }
        if self.stop_timeout == Some(0) {
            bail!("stop_timeout 0: seconds, at least 1, expected");
        }
        if !self.instances.is_empty() && !self.multi_instance {
            bail!("instances without multi_instance");
        }
        for (n, i) in self.instances.iter().enumerate() {
            let ok = !i.is_empty()
                && i.len() <= 8
                && i.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            if !ok {
                bail!("instances: {i:?} is not an instance name ([a-z0-9]{{1,8}})");
            }
            if self.instances[..n].contains(i) {
                bail!("instances: {i} twice");
            }
            FeatureName::new(&self.instance_feature(i))
                .with_context(|| format!("instances: {i}: the container name"))?;
        }
        Ok(())
    }
}

/// What `service install` does with a spec's text before it touches anything: parse it, check
/// it and render every file; returns the paths (relative to `--root`) it would then write, the
/// manifest's last. The hostile-input checks (ctrmgr-hostile, issue 15) call it to show that
/// no spec, however hostile, names a path outside the fixed directories.
pub fn spec_paths(text: &str) -> Result<Vec<String>> {
    let spec = Spec::parse(text).context("invalid spec")?;
    // Without a root, every required unit of a multi-instance spec is taken for a template.
    let templates: BTreeSet<String> = if spec.multi_instance {
        spec.requires.iter().cloned().collect()
    } else {
        BTreeSet::new()
    };
    let mut paths: Vec<String> = plan(&spec, &templates)?
        .into_iter()
        .map(|p| p.rel)
        .collect();
    paths.push(manifest_rel(&spec.name));
    Ok(paths)
}

// ---- rendering ------------------------------------------------------------------------------

fn render(name: &str, source: &str, ctx: minijinja::Value) -> Result<String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_syntax(
        SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .context("template syntax")?,
    );
    env.add_template(name, source)
        .with_context(|| format!("template {name}"))?;
    env.get_template(name)
        .and_then(|t| t.render(ctx))
        .with_context(|| format!("cannot render {name}"))
}

/// One file install writes.
struct Planned {
    rel: String,
    content: Vec<u8>,
    mode: u32,
}

/// Where systemd finds units, below the root.
const UNIT_DIRS: [&str; 3] = [
    "etc/systemd/system",
    "lib/systemd/system",
    "usr/lib/systemd/system",
];

/// The units of `requires` that are templates themselves (`<unit>@.service` below the root):
/// the template unit requires their instance of the same name (`<unit>@%i.service`), as
/// upstream's `per_namespace` units require `database@%i.service`.
fn instance_requires(spec: &Spec, root: &Path) -> BTreeSet<String> {
    if !spec.multi_instance {
        return BTreeSet::new();
    }
    spec.requires
        .iter()
        .filter(|u| {
            UNIT_DIRS
                .iter()
                .any(|d| safe_path(root, &format!("{d}/{u}@.service")).is_ok_and(|p| p.is_file()))
        })
        .cloned()
        .collect()
}

fn plan(spec: &Spec, instance_requires: &BTreeSet<String>) -> Result<Vec<Planned>> {
    let name = &spec.name;
    let mut out = Vec::new();
    let mut unit_ctx = BTreeMap::new();
    unit_ctx.insert("name", minijinja::Value::from(name.as_str()));
    unit_ctx.insert("requires", minijinja::Value::from(spec.requires.clone()));
    if let Some(d) = &spec.description {
        unit_ctx.insert("description", minijinja::Value::from(d.as_str()));
    }
    unit_ctx.insert(
        "user",
        minijinja::Value::from(spec.user.as_deref().unwrap_or("root")),
    );
    if let Some(t) = spec.stop_timeout {
        unit_ctx.insert("stop_timeout", minijinja::Value::from(t));
    }
    unit_ctx.insert(
        "instance_requires",
        minijinja::Value::from(instance_requires.iter().cloned().collect::<Vec<String>>()),
    );
    // As sonic-buildimage's slave.mk renders a per_namespace template twice: `<name>.service`
    // (multi_instance false: the host's instance) and `<name>@.service` (true).
    let variants: &[bool] = if spec.multi_instance {
        &[false, true]
    } else {
        &[false]
    };
    for &multi in variants {
        unit_ctx.insert("multi_instance", minijinja::Value::from(multi));
        out.push(Planned {
            rel: format!(
                "etc/systemd/system/{name}{}.service",
                if multi { "@" } else { "" }
            ),
            content: render(
                "feature.service.j2",
                UNIT_TEMPLATE,
                minijinja::Value::from(unit_ctx.clone()),
            )?
            .into_bytes(),
            mode: 0o644,
        });
    }
    out.push(Planned {
        rel: format!("usr/local/bin/{name}.sh"),
        content: render(
            "feature.sh.j2",
            SCRIPT_TEMPLATE,
            context! {
                name => name,
                multi_instance => spec.multi_instance,
                local_image => spec.local_image.clone().unwrap_or_default(),
                docker_create_args => &spec.docker_create_args,
                pre_start => &spec.pre_start,
                post_start => &spec.post_start,
                pre_stop => &spec.pre_stop,
                post_stop => &spec.post_stop,
            },
        )?
        .into_bytes(),
        mode: 0o755,
    });
    for dep in &spec.required_by {
        out.push(Planned {
            rel: format!("etc/systemd/system/{dep}.service.d/ctrmgr-{name}.conf"),
            content: render(
                "feature-dependent.conf.j2",
                DROPIN_TEMPLATE,
                context! { name => name, dependent => dep },
            )?
            .into_bytes(),
            mode: 0o644,
        });
    }
    for (kind, lines) in [("warm", &spec.warm_reboot), ("fast", &spec.fast_reboot)] {
        if lines.is_empty() {
            continue;
        }
        out.push(Planned {
            rel: format!("etc/sonic/ctrmgr/reboot.d/{kind}/{name}.sh"),
            content: render(
                "reboot-hook.sh.j2",
                HOOK_TEMPLATE,
                context! { name => name, kind => kind, lines => lines },
            )?
            .into_bytes(),
            mode: 0o755,
        });
    }
    Ok(out)
}

/// CONFIG_DB `FEATURE|<f>` `has_per_asic_scope`: featured starts `<f>@<n>.service` for each
/// ASIC namespace when it is `True` (sonic-host-services `scripts/featured`).
const HAS_PER_ASIC_SCOPE: &str = "has_per_asic_scope";

/// The FEATURE row install leaves: the row before, with the spec's owner and fallback (both
/// spellings), and SONiC's `state`/`auto_restart` when the row had none; `has_per_asic_scope`
/// `True` for a multi-instance feature.
fn planned_row(spec: &Spec, before: Option<&Fields>) -> Fields {
    let mut row = before.cloned().unwrap_or_default();
    row.entry(codec::FEATURE_STATE.to_owned())
        .or_insert_with(|| "enabled".to_owned());
    row.entry("auto_restart".to_owned())
        .or_insert_with(|| "enabled".to_owned());
    if spec.multi_instance {
        row.insert(HAS_PER_ASIC_SCOPE.to_owned(), "True".to_owned());
    }
    owner_fields(spec, row)
}

/// The row of an instance `<name><instance>` install leaves: the row before with the spec's
/// owner and fallback only. No `state`: featured would start a unit `<name><instance>.service`,
/// which does not exist; the instance runs as `<name>@<instance>.service`.
fn planned_instance_row(spec: &Spec, before: Option<&Fields>) -> Fields {
    owner_fields(spec, before.cloned().unwrap_or_default())
}

fn owner_fields(spec: &Spec, mut row: Fields) -> Fields {
    row.insert(codec::SET_OWNER.to_owned(), spec.set_owner.clone());
    row.insert(
        codec::FALLBACK_TO_LOCAL.to_owned(),
        codec::bool_str(spec.fallback).to_owned(),
    );
    row.insert(
        codec::upstream::NO_FALLBACK_TO_LOCAL.to_owned(),
        codec::bool_str(!spec.fallback).to_owned(),
    );
    row
}

// ---- the file tree --------------------------------------------------------------------------

/// `root/rel`, refusing any symbolic link from the root down (the root itself may be one).
fn safe_path(root: &Path, rel: &str) -> Result<PathBuf> {
    let mut p = root.to_path_buf();
    for part in Path::new(rel).components() {
        let std::path::Component::Normal(part) = part else {
            bail!("path {rel:?} is not a plain relative path");
        };
        p.push(part);
        if std::fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
            bail!(
                "{} is a symbolic link: refusing to write through it",
                p.display()
            );
        }
    }
    Ok(p)
}

fn read_before(path: &Path) -> Result<Before> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let mode = std::fs::metadata(path)
                .with_context(|| format!("cannot stat {}", path.display()))?
                .permissions()
                .mode()
                & 0o7777;
            Ok(Before {
                content: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                mode: Some(mode),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Before {
            content: None,
            mode: None,
        }),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Whether `path` holds exactly `content` with `mode`.
fn same(path: &Path, content: &[u8], mode: u32) -> bool {
    std::fs::read(path).is_ok_and(|c| c == content)
        && std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o7777 == mode)
}

/// Creates the missing directories of `rel`'s parent, appending each one created to `created`.
fn make_dirs(root: &Path, rel: &str, created: &mut Vec<String>) -> Result<()> {
    let parent = Path::new(rel).parent().unwrap_or(Path::new(""));
    let mut sofar = PathBuf::new();
    for part in parent.components() {
        sofar.push(part);
        let rel_dir = sofar.to_string_lossy().into_owned();
        let p = safe_path(root, &rel_dir)?;
        if !p.exists() {
            std::fs::create_dir(&p).with_context(|| format!("cannot create {}", p.display()))?;
            created.push(rel_dir);
        }
    }
    Ok(())
}

/// Writes `content` with `mode` to `path` atomically: a temporary file in the same directory,
/// renamed over it (removed again on failure). Whatever holds the temporary file's name
/// already (a file left by a crash, or a symbolic link planted to make install write outside
/// its root) is removed, never written through, and the new file is created exclusively
/// (`O_EXCL` does not follow a link either).
fn write_atomic(path: &Path, content: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.sonic-kube.tmp"));
    let result = (|| -> std::io::Result<()> {
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(content)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}

/// Puts `rel` back as it was.
fn restore(root: &Path, rel: &str, before: &Before) -> Result<()> {
    let path = safe_path(root, rel)?;
    match (&before.content, before.mode) {
        (Some(c), mode) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(c)
                .with_context(|| format!("the manifest's copy of {rel} is not base64"))?;
            write_atomic(&path, &bytes, mode.unwrap_or(0o644))
        }
        (None, _) => match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
        },
    }
}

fn manifest_rel(name: &str) -> String {
    format!("{MANIFEST_DIR}/{name}.json")
}

fn load_manifest(root: &Path, name: &str) -> Result<Option<Manifest>> {
    let path = safe_path(root, &manifest_rel(name))?;
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("corrupt manifest {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn save_manifest(root: &Path, m: &Manifest) -> Result<()> {
    let rel = manifest_rel(&m.spec.name);
    let path = safe_path(root, &rel)?;
    let mut text = serde_json::to_string_pretty(m)?;
    text.push('\n');
    write_atomic(&path, text.as_bytes(), 0o644)
}

/// `systemctl daemon-reload` (argv, no shell).
async fn daemon_reload(ctx: &Ctx) -> Result<()> {
    let program = &ctx.tunables.systemctl;
    let out = tokio::process::Command::new(program)
        .arg("daemon-reload")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("cannot run {} daemon-reload", program.display()))?;
    if !out.status.success() {
        bail!(
            "{} daemon-reload failed ({}): {}",
            program.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

// ---- the commands ---------------------------------------------------------------------------

async fn install(ctx: &Ctx, spec_path: &Path, root: &Path) -> Result<ExitCode> {
    let spec = Spec::load(spec_path)?;
    let name = spec.name.clone();
    let planned = plan(&spec, &instance_requires(&spec, root))?;
    let db = ctx.db().await?;
    let current_row = db
        .row(DbName::ConfigDb, codec::FEATURE_TABLE, &name)
        .await?;
    let old = load_manifest(root, &name)?;
    let row_before = match &old {
        Some(m) => m.row_before.clone(),
        None => Some(current_row.clone()).filter(|r| !r.is_empty()),
    };
    let row = planned_row(&spec, row_before.as_ref());

    // The instances' rows: those of the spec (what each held before the first install that
    // wrote it is kept), and those of an earlier install that the spec no longer lists, which
    // go back to what they were.
    let old_instances = old
        .as_ref()
        .map(|m| m.instance_rows_before.clone())
        .unwrap_or_default();
    let mut instance_rows_before = BTreeMap::new();
    // (feature, current row, row to leave or `None` to delete)
    let mut instance_rows: Vec<(String, Fields, Option<Fields>)> = Vec::new();
    for i in &spec.instances {
        let f = spec.instance_feature(i);
        let current = db.row(DbName::ConfigDb, codec::FEATURE_TABLE, &f).await?;
        let before = match old_instances.get(&f) {
            Some(b) => b.clone(),
            None => Some(current.clone()).filter(|r| !r.is_empty()),
        };
        let want = planned_instance_row(&spec, before.as_ref());
        instance_rows_before.insert(f.clone(), before);
        instance_rows.push((f, current, Some(want)));
    }
    for (f, before) in &old_instances {
        if !instance_rows_before.contains_key(f) {
            let current = db.row(DbName::ConfigDb, codec::FEATURE_TABLE, f).await?;
            instance_rows.push((f.clone(), current, before.clone()));
        }
    }
    let changed_rows: Vec<&(String, Fields, Option<Fields>)> = instance_rows
        .iter()
        .filter(|(_, current, want)| want.as_ref().unwrap_or(&Fields::new()) != current)
        .collect();

    // Paths of an earlier install that this spec no longer has go back to what they were.
    let stale: Vec<(String, Before)> = old
        .as_ref()
        .map(|m| {
            m.files
                .iter()
                .filter(|(rel, _)| !planned.iter().any(|p| &p.rel == *rel))
                .map(|(r, b)| (r.clone(), b.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut changed_files = Vec::new();
    for p in &planned {
        let path = safe_path(root, &p.rel)?;
        if !same(&path, &p.content, p.mode) {
            changed_files.push(p);
        }
    }
    let spec_changed = old.as_ref().is_none_or(|m| m.spec != spec);
    if changed_files.is_empty()
        && stale.is_empty()
        && row == current_row
        && changed_rows.is_empty()
        && !spec_changed
    {
        println!("{name}: already installed as specified; nothing changed");
        return Ok(ExitCode::SUCCESS);
    }

    // The manifest first, with what every path and row held before, so that a failure
    // part-way can still be removed.
    let mut manifest = old.unwrap_or_else(|| Manifest {
        spec: spec.clone(),
        files: BTreeMap::new(),
        created_dirs: Vec::new(),
        row_before: row_before.clone(),
        instance_rows_before: BTreeMap::new(),
    });
    manifest.spec = spec.clone();
    // Rows the spec no longer lists stay in the manifest until they are restored below.
    for (f, before) in &instance_rows_before {
        manifest
            .instance_rows_before
            .entry(f.clone())
            .or_insert_with(|| before.clone());
    }
    make_dirs(root, &manifest_rel(&name), &mut manifest.created_dirs)?;
    for p in &planned {
        if !manifest.files.contains_key(&p.rel) {
            let before = read_before(&safe_path(root, &p.rel)?)?;
            manifest.files.insert(p.rel.clone(), before);
        }
    }
    for p in &planned {
        make_dirs(root, &p.rel, &mut manifest.created_dirs)?;
    }
    save_manifest(root, &manifest)?;

    for p in &changed_files {
        write_atomic(&safe_path(root, &p.rel)?, &p.content, p.mode)?;
        println!("wrote /{}", p.rel);
    }
    for (rel, before) in &stale {
        restore(root, rel, before)?;
        manifest.files.remove(rel);
        println!("restored /{rel}");
    }
    if row != current_row {
        db.replace_row(DbName::ConfigDb, codec::FEATURE_TABLE, &name, Some(&row))
            .await?;
        println!(
            "wrote CONFIG_DB FEATURE|{name}: set_owner={} fallback_to_local={}",
            spec.set_owner,
            codec::bool_str(spec.fallback)
        );
    }
    for (f, _, want) in &changed_rows {
        db.replace_row(DbName::ConfigDb, codec::FEATURE_TABLE, f, want.as_ref())
            .await?;
        if instance_rows_before.contains_key(f) {
            println!(
                "wrote CONFIG_DB FEATURE|{f}: set_owner={} fallback_to_local={}",
                spec.set_owner,
                codec::bool_str(spec.fallback)
            );
        } else {
            println!("restored CONFIG_DB FEATURE|{f}");
        }
    }
    let dropped = manifest.instance_rows_before.len();
    manifest
        .instance_rows_before
        .retain(|f, _| instance_rows_before.contains_key(f));
    if !stale.is_empty() || dropped != manifest.instance_rows_before.len() {
        save_manifest(root, &manifest)?;
    }
    daemon_reload(ctx).await?;
    println!("{name}: installed; systemd reloaded");
    Ok(ExitCode::SUCCESS)
}

async fn remove(ctx: &Ctx, feature: &str, root: &Path) -> Result<ExitCode> {
    let f = FeatureName::new(feature)?;
    let Some(manifest) = load_manifest(root, f.as_str())? else {
        bail!(
            "{f} was not installed by `sonic-kube service install` (no {})",
            safe_path(root, &manifest_rel(f.as_str()))?.display()
        );
    };
    let db = ctx.db().await?;
    let unit_rel = format!("etc/systemd/system/{f}.service");
    if manifest
        .files
        .get(&unit_rel)
        .is_some_and(|b| b.content.is_none())
    {
        // The unit goes away: stop the service it defines first.
        use ctrmgr_core::ports::Systemd as _;
        ctx.systemctl()
            .stop(f.as_str())
            .await
            .with_context(|| format!("cannot stop {f} before removing its unit"))?;
    }
    let template_rel = format!("etc/systemd/system/{f}@.service");
    if manifest
        .files
        .get(&template_rel)
        .is_some_and(|b| b.content.is_none())
    {
        // The template goes away: stop the spec's instances first.
        use ctrmgr_core::ports::Systemd as _;
        for i in &manifest.spec.instances {
            let unit = format!("{f}@{i}");
            ctx.systemctl()
                .stop(&unit)
                .await
                .with_context(|| format!("cannot stop {unit} before removing its unit"))?;
        }
    }
    for (rel, before) in &manifest.files {
        restore(root, rel, before)?;
        println!("restored /{rel}");
    }
    db.replace_row(
        DbName::ConfigDb,
        codec::FEATURE_TABLE,
        f.as_str(),
        manifest.row_before.as_ref(),
    )
    .await?;
    println!(
        "restored CONFIG_DB FEATURE|{f}{}",
        if manifest.row_before.is_none() {
            " (deleted: there was none)"
        } else {
            ""
        }
    );
    for (inst, before) in &manifest.instance_rows_before {
        db.replace_row(
            DbName::ConfigDb,
            codec::FEATURE_TABLE,
            inst,
            before.as_ref(),
        )
        .await?;
        println!(
            "restored CONFIG_DB FEATURE|{inst}{}",
            if before.is_none() {
                " (deleted: there was none)"
            } else {
                ""
            }
        );
    }
    let mpath = safe_path(root, &manifest_rel(f.as_str()))?;
    std::fs::remove_file(&mpath).with_context(|| format!("cannot remove {}", mpath.display()))?;
    for d in manifest.created_dirs.iter().rev() {
        let p = safe_path(root, d)?;
        // Only if empty: something else may have been put there since.
        if let Err(e) = std::fs::remove_dir(&p)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %p.display(), error = %e, "directory created by install kept");
        }
    }
    daemon_reload(ctx).await?;
    println!("{f}: removed; systemd reloaded");
    Ok(ExitCode::SUCCESS)
}

fn list(root: &Path, json: bool) -> Result<ExitCode> {
    let dir = safe_path(root, MANIFEST_DIR)?;
    let mut manifests = Vec::new();
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            for e in entries {
                let p = e
                    .with_context(|| format!("cannot read {}", dir.display()))?
                    .path();
                let Some(stem) = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".json"))
                else {
                    continue;
                };
                if FeatureName::new(stem).is_err() {
                    continue;
                }
                if let Some(m) = load_manifest(root, stem)? {
                    manifests.push(m);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
    manifests.sort_by(|a, b| crate::table::natural_cmp(&a.spec.name, &b.spec.name));
    if json {
        let specs: Vec<&Spec> = manifests.iter().map(|m| &m.spec).collect();
        println!("{}", serde_json::to_string_pretty(&specs)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new([
        "Feature",
        "SetOwner",
        "Fallback",
        "LocalImage",
        "Requires",
        "RequiredBy",
        "RebootHooks",
    ]);
    for m in &manifests {
        let s = &m.spec;
        let hooks: Vec<&str> = [("warm", &s.warm_reboot), ("fast", &s.fast_reboot)]
            .into_iter()
            .filter(|(_, l)| !l.is_empty())
            .map(|(k, _)| k)
            .collect();
        t.row([
            s.name.clone(),
            s.set_owner.clone(),
            codec::bool_str(s.fallback).to_owned(),
            s.local_image.clone().unwrap_or_default(),
            s.requires.join(","),
            s.required_by.join(","),
            hooks.join(","),
        ]);
    }
    print!("{}", t.render());
    Ok(ExitCode::SUCCESS)
}
