//! A service spec checked before anything is written: names, images, paths.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use ctrmgr_core::FeatureName;
use ctrmgr_core::codec::{self};

use super::*;

pub(super) fn check_text(what: &str, v: &str) -> Result<()> {
    if let Some(c) = v.chars().find(|c| c.is_control()) {
        bail!("{what} {v:?} has the control character {c:?}: one line of text expected");
    }
    Ok(())
}

pub(super) fn check_image(v: &str) -> Result<()> {
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
    pub(super) fn instance_feature(&self, instance: &str) -> String {
        format!("{}{instance}", self.name)
    }

    pub(super) fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the spec {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid spec {}", path.display()))
    }

    /// Parses and checks the text of a spec.
    pub(super) fn parse(text: &str) -> Result<Self> {
        let spec: Spec = serde_json::from_str(text)?;
        spec.check()?;
        Ok(spec)
    }

    pub(super) fn check(&self) -> Result<()> {
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
