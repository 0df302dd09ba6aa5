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

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use ctrmgr_core::FeatureName;
use ctrmgr_core::codec::{self, Fields};
use serde::{Deserialize, Serialize};

use crate::Ctx;
use crate::cli::ServiceCommand;
use crate::table::Table;

mod files;
mod install;
mod remove;
mod render;
mod spec;

use files::*;
use render::*;
pub use spec::spec_paths;

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
        ServiceCommand::Install { spec, root } => install::install(ctx, &spec, &root.root).await,
        ServiceCommand::Remove { feature, root } => remove::remove(ctx, &feature, &root.root).await,
        ServiceCommand::List { root, json } => list(&root.root, json),
    }
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
