//! Containers and images made, renamed, listed and removed: what the tests, the kubelet
//! simulator and `container` for an upstream name without a row need besides the lifecycle.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, HostConfigCgroupnsModeEnum};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, RemoveContainerOptions,
    RemoveImageOptions, RenameContainerOptions,
};
use ctrmgr_core::types::ContainerId;
use futures_util::StreamExt;

use super::{DockerClient, container};
use crate::error::Error;
use crate::spec::*;

impl DockerClient {
    /// Renames a container.
    pub async fn rename(&self, id: &ContainerId, new_name: &str) -> Result<(), Error> {
        let options = RenameContainerOptions {
            name: new_name.to_owned(),
        };
        self.docker
            .rename_container(id.as_str(), options)
            .await
            .map_err(|e| Error::engine("rename", container(id), e))
    }

    /// Creates a container (not started) and returns its full id.
    pub async fn create(&self, spec: &ContainerSpec) -> Result<ContainerId, Error> {
        let target = || format!("container {}", spec.name.as_deref().unwrap_or("(unnamed)"));
        let options = CreateContainerOptions {
            name: spec.name.clone(),
            ..CreateContainerOptions::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
            env: (!spec.env.is_empty()).then(|| spec.env.clone()),
            labels: Some(
                spec.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<HashMap<_, _>>(),
            ),
            host_config: Some(HostConfig {
                network_mode: Some(match &spec.network_of {
                    Some(sandbox) => format!("container:{sandbox}"),
                    None => spec.network.as_str().to_owned(),
                }),
                auto_remove: Some(false),
                binds: (!spec.binds.is_empty()).then(|| spec.binds.clone()),
                ipc_mode: spec.ipc_mode.clone(),
                cgroupns_mode: spec
                    .cgroupns_private
                    .then_some(HostConfigCgroupnsModeEnum::PRIVATE),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        };
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| Error::engine("create", target(), e))?;
        for warning in &created.warnings {
            tracing::warn!(container = %target(), %warning, "the engine warned while creating");
        }
        ContainerId::new(&created.id).map_err(|e| Error::Unexpected {
            op: "create",
            target: target(),
            detail: e.to_string(),
        })
    }

    /// Removes a container; `force` kills it first when it runs.
    pub async fn remove(&self, id: &ContainerId, force: bool) -> Result<(), Error> {
        let options = RemoveContainerOptions {
            force,
            ..RemoveContainerOptions::default()
        };
        self.docker
            .remove_container(id.as_str(), Some(options))
            .await
            .map_err(|e| Error::engine("remove", container(id), e))
    }

    /// Every container, running or not, that carries all the given labels; each filter is
    /// `key` (the label is set) or `key=value`.
    pub async fn list(&self, label_filters: &[&str]) -> Result<Vec<ContainerSummary>, Error> {
        let mut filters = HashMap::new();
        if !label_filters.is_empty() {
            filters.insert(
                "label".to_owned(),
                label_filters.iter().map(|f| (*f).to_owned()).collect(),
            );
        }
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..ListContainersOptions::default()
        };
        let target = || format!("containers with labels {label_filters:?}");
        let found = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| Error::engine("list", target(), e))?;
        found
            .into_iter()
            .map(|c| {
                let id = ContainerId::new(c.id.as_deref().unwrap_or_default()).map_err(|e| {
                    Error::Unexpected {
                        op: "list",
                        target: target(),
                        detail: e.to_string(),
                    }
                })?;
                let name = c
                    .names
                    .unwrap_or_default()
                    .into_iter()
                    .next()
                    .map(|n| n.trim_start_matches('/').to_owned());
                Ok(ContainerSummary {
                    id,
                    name,
                    image: c.image.unwrap_or_default(),
                    labels: c.labels.unwrap_or_default().into_iter().collect(),
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Creates an image from a root file system tarball (`docker import`), tagged
    /// `reference` (`repo[:tag]`, tag `latest` when absent), applying `changes` (Dockerfile
    /// instructions among `CMD`, `ENTRYPOINT`, `ENV`, `EXPOSE`, `USER`, `VOLUME`, `WORKDIR`, as
    /// `docker import --change`); no registry is involved. Returns the image id (`sha256:…`).
    pub async fn import_image(
        &self,
        rootfs_tar: Vec<u8>,
        reference: &str,
        changes: &[&str],
    ) -> Result<String, Error> {
        let target = || format!("image {reference}");
        let (repo, tag) = split_reference(reference);
        let options = CreateImageOptions {
            from_src: Some("-".to_owned()),
            repo: Some(repo.to_owned()),
            tag: Some(tag.to_owned()),
            changes: changes.iter().map(|c| (*c).to_owned()).collect(),
            ..CreateImageOptions::default()
        };
        let mut progress = self.docker.create_image(
            Some(options),
            Some(bollard::body_full(rootfs_tar.into())),
            None,
        );
        while let Some(step) = progress.next().await {
            step.map_err(|e| Error::engine("import", target(), e))?;
        }
        self.image_id(reference)
            .await?
            .ok_or_else(|| Error::Unexpected {
                op: "import",
                target: target(),
                detail: "the image is missing after the import".to_owned(),
            })
    }

    /// Removes a local image by reference or id; `force` also removes it when containers
    /// use it or it has several tags.
    pub async fn remove_image(&self, reference: &str, force: bool) -> Result<(), Error> {
        let options = RemoveImageOptions {
            force,
            ..RemoveImageOptions::default()
        };
        self.docker
            .remove_image(reference, Some(options), None)
            .await
            .map(drop)
            .map_err(|e| Error::engine("remove", format!("image {reference}"), e))
    }

    /// The id of a local image, or `None` when there is no such image.
    pub async fn image_id(&self, reference: &str) -> Result<Option<String>, Error> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(Some(image.id.unwrap_or_default())),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(Error::engine("inspect", format!("image {reference}"), e)),
        }
    }
}

/// Splits `repo[:tag]` into repository and tag; a `:` before the last `/` is a registry port.
fn split_reference(reference: &str) -> (&str, &str) {
    let name_start = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[name_start..].rfind(':') {
        Some(i) => (
            &reference[..name_start + i],
            &reference[name_start + i + 1..],
        ),
        None => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_repository_and_tag() {
        assert_eq!(
            split_reference("ctrmgr-test/busybox:1"),
            ("ctrmgr-test/busybox", "1")
        );
        assert_eq!(split_reference("busybox"), ("busybox", "latest"));
        assert_eq!(
            split_reference("registry:5000/snmp"),
            ("registry:5000/snmp", "latest")
        );
        assert_eq!(
            split_reference("registry:5000/snmp:v2"),
            ("registry:5000/snmp", "v2")
        );
    }
}
