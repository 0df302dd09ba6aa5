//! Finding the id of the container this process runs in, for `container state <f> up|down`
//! called from inside a container (DESIGN §5):
//!
//! 1. `/proc/self/cgroup`: cgroup v1 or v2 paths that end in the container's own id —
//!    `…/docker/<id>` (cgroupfs driver), `…/docker-<id>.scope` (systemd driver), and kubelet's
//!    `/kubepods/…/<id>` and `…/kubepods-…-pod<uid>.slice/docker-<id>.scope`. Found
//!    ([`Source::Cgroup`]), it is the container's own and is used as is.
//! 2. `/proc/self/mountinfo`, *ignoring* the `/etc/hostname`, `/etc/hosts` and
//!    `/etc/resolv.conf` mounts: in a Kubernetes pod every container joins the network
//!    namespace of the pod's pause (sandbox) container, and those three files are mounted from
//!    the sandbox's directory (`…/containers/<sandbox id>/…`), so they name the wrong
//!    container (issue 8, item 1: wave 1 read them first and recorded the sandbox). What is
//!    left is a `…/containers/<id>/…` bind such as an older engine's `/dev/shm`
//!    (`…/containers/<id>/mounts/shm`; today's engines mount a plain tmpfs there, which names
//!    nothing). kubelet's Docker runtime also joins a pod's containers to the sandbox's IPC
//!    namespace, so that `/dev/shm` may be the sandbox's as well: an id that is also the one
//!    the three files name is reported as [`Source::NetworkOwner`] (this container, or the
//!    sandbox of a pod), any other as [`Source::Mountinfo`].
//!
//! This module only reads the two files. What `container state` does with an id found in
//! mountinfo (`commands/state.rs`, `own_id`): when an engine socket is at hand (`DOCKER_HOST`,
//! or `/var/run/docker.sock` mounted in) it inspects it and refuses one that kubelet labelled
//! `io.kubernetes.docker.type=podsandbox`; without a socket, `up kube` (always in a pod)
//! refuses a [`Source::NetworkOwner`] id. Each refusal, like finding nothing, is one line
//! asking for `--id`.

use std::path::Path;

use ctrmgr_core::ContainerId;

/// Where the kernel lists this process's mounts.
pub const MOUNTINFO: &str = "/proc/self/mountinfo";
/// Where the kernel lists this process's cgroups.
pub const CGROUP: &str = "/proc/self/cgroup";

/// Length of a full container id.
const ID_LEN: usize = 64;

/// The mount points whose source, in a pod, is the sandbox container's directory.
const SANDBOX_FILES: [&str; 3] = ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"];

fn is_hex_id(s: &str) -> bool {
    s.len() == ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The first full id that follows `marker` in `text` and whose remainder satisfies `end`.
fn id_after(text: &str, marker: &str, end: impl Fn(&str) -> bool) -> Option<String> {
    text.match_indices(marker).find_map(|(at, _)| {
        let rest = text.get(at + marker.len()..)?;
        let id = rest.get(..ID_LEN)?;
        let after = rest.get(ID_LEN..)?;
        (is_hex_id(id) && end(after)).then(|| id.to_owned())
    })
}

/// The container id in a `mountinfo` text: `/docker/containers/<64 hex>/` under Docker's
/// default data root, or `/containers/<64 hex>/` under another one (`--data-root`), from any
/// mount but `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` (in a pod, the sandbox's).
#[allow(dead_code)] // the binary uses the candidate with its source; `ctrmgr-hostile` checks this
pub fn id_from_mountinfo(text: &str) -> Option<ContainerId> {
    mountinfo_candidate(text).map(|(id, _)| id)
}

/// [`id_from_mountinfo`], and whether that id is also the one the `/etc/hostname`,
/// `/etc/hosts` and `/etc/resolv.conf` mounts name (the network namespace's owner).
fn mountinfo_candidate(text: &str) -> Option<(ContainerId, bool)> {
    // Field 5 is the mount point (fields are separated by single spaces).
    let network_file = |line: &&str| {
        line.split(' ')
            .nth(4)
            .is_some_and(|point| SANDBOX_FILES.contains(&point))
    };
    let pick = |lines: Vec<&str>| {
        let text = lines.join("\n");
        id_after(&text, "/docker/containers/", |a| a.starts_with('/'))
            .or_else(|| id_after(&text, "/containers/", |a| a.starts_with('/')))
    };
    let own = pick(text.lines().filter(|l| !network_file(l)).collect())?;
    let network_owner = pick(text.lines().filter(network_file).collect());
    let shared = network_owner.as_deref() == Some(own.as_str());
    ContainerId::new(&own).ok().map(|id| (id, shared))
}

/// The container id in a `cgroup` text (v1 or v2): `docker-<64 hex>.scope` (systemd driver,
/// also under kubelet's `kubepods-….slice`), or `/docker/<64 hex>` or kubelet's
/// `/kubepods/…/<64 hex>` ending a path or followed by `/` (cgroupfs driver).
pub fn id_from_cgroup(text: &str) -> Option<ContainerId> {
    let ends = |a: &str| a.is_empty() || a.starts_with('/');
    id_after(text, "docker-", |a| a.starts_with(".scope"))
        .or_else(|| {
            text.lines().find_map(|line| {
                id_after(line, "/docker/", ends).or_else(|| {
                    // kubelet, cgroupfs driver: /kubepods[/<qos>]/pod<uid>/<id>
                    let path = line.splitn(3, ':').nth(2)?;
                    if !path.starts_with("/kubepods") {
                        return None;
                    }
                    let last = path.trim_end_matches('/').rsplit('/').next()?;
                    is_hex_id(last).then(|| last.to_owned())
                })
            })
        })
        .and_then(|id| ContainerId::new(&id).ok())
}

/// Where an id was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `/proc/self/cgroup`: the container's own.
    Cgroup,
    /// `/proc/self/mountinfo`, naming another container than the network files do (or they
    /// name none).
    Mountinfo,
    /// `/proc/self/mountinfo`, naming the container the network files come from: this one, or
    /// a pod's sandbox whose IPC namespace (`/dev/shm`) this container shares.
    NetworkOwner,
}

/// This process's container id and where it was found, from the two files (missing files
/// count as no match). The cgroup comes first.
pub fn detect_in(mountinfo: &Path, cgroup: &Path) -> Option<(ContainerId, Source)> {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    id_from_cgroup(&read(cgroup))
        .map(|id| (id, Source::Cgroup))
        .or_else(|| {
            mountinfo_candidate(&read(mountinfo)).map(|(id, shared)| {
                let source = if shared {
                    Source::NetworkOwner
                } else {
                    Source::Mountinfo
                };
                (id, source)
            })
        })
}

/// This process's container id and where it was found, from [`MOUNTINFO`] and [`CGROUP`].
pub fn detect() -> Option<(ContainerId, Source)> {
    detect_in(Path::new(MOUNTINFO), Path::new(CGROUP))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0f3a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";

    #[test]
    fn mountinfo_of_a_docker_container_names_its_id() {
        let text = format!(
            "1034 1010 0:52 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X\n\
             1050 1034 254:1 /var/lib/docker/containers/{ID}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw\n\
             1051 1034 254:1 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw\n\
             1052 1034 254:1 /var/lib/docker/containers/{ID}/mounts/shm /dev/shm rw,relatime - ext4 /dev/vda1 rw\n"
        );
        assert_eq!(
            id_from_mountinfo(&text).map(String::from),
            Some(ID.to_owned())
        );
    }

    #[test]
    fn mountinfo_under_another_data_root_names_the_id() {
        let text = format!(
            "93 72 254:0 /srv/engine/data/containers/{ID}/mounts/shm /dev/shm rw,relatime - ext4 /dev/vda rw\n"
        );
        assert_eq!(
            id_from_mountinfo(&text).map(String::from),
            Some(ID.to_owned())
        );
    }

    #[test]
    fn mountinfo_outside_a_container_names_nothing() {
        let text = "22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n\
                    23 22 0:5 / /dev rw,nosuid shared:2 - devtmpfs udev rw\n\
                    24 22 254:1 /var/lib/docker/containers/short/hostname /x rw - ext4 /dev/vda1 rw\n";
        assert_eq!(id_from_mountinfo(text), None);
    }

    #[test]
    fn cgroup_v1_cgroupfs_paths_name_the_id() {
        let text = format!("12:memory:/docker/{ID}\n11:cpu,cpuacct:/docker/{ID}\n");
        assert_eq!(id_from_cgroup(&text).map(String::from), Some(ID.to_owned()));
    }

    #[test]
    fn cgroup_systemd_scopes_name_the_id() {
        let text = format!("0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(id_from_cgroup(&text).map(String::from), Some(ID.to_owned()));
    }

    #[test]
    fn a_host_cgroup_or_a_bad_id_names_nothing() {
        assert_eq!(
            id_from_cgroup("0::/user.slice/user-0.slice/session-1.scope\n"),
            None
        );
        assert_eq!(id_from_cgroup("0::/docker/notanid\n"), None);
        let upper = ID.to_ascii_uppercase();
        assert_eq!(id_from_cgroup(&format!("0::/docker/{upper}\n")), None);
        assert_eq!(id_from_cgroup(&format!("0::/docker-{ID}x.scope\n")), None);
    }

    #[test]
    fn missing_files_name_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(
            detect_in(&dir.path().join("mountinfo"), &dir.path().join("cgroup")),
            None
        );
    }

    const SANDBOX: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

    /// The mountinfo of a container of a pod: hostname, hosts and resolv.conf from the
    /// sandbox's directory, `/dev/shm` its own.
    fn pod_mountinfo() -> String {
        format!(
            "1034 1010 0:52 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X\n\
             1050 1034 254:1 /var/lib/docker/containers/{SANDBOX}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda1 rw\n\
             1051 1034 254:1 /var/lib/docker/containers/{SANDBOX}/hostname /etc/hostname rw,relatime - ext4 /dev/vda1 rw\n\
             1052 1034 254:1 /var/lib/docker/containers/{SANDBOX}/hosts /etc/hosts rw,relatime - ext4 /dev/vda1 rw\n\
             1053 1034 0:60 / /dev/shm rw,nosuid - tmpfs shm rw\n"
        )
    }

    #[test]
    fn in_a_pod_the_sandboxs_hostname_hosts_and_resolv_conf_are_ignored() {
        // Issue 8, item 1: wave 1 returned the sandbox's id from these.
        assert_eq!(id_from_mountinfo(&pod_mountinfo()), None);
        let own = format!(
            "{}1054 1034 254:1 /var/lib/docker/containers/{ID}/mounts/shm /dev/shm rw - ext4 /dev/vda1 rw\n",
            pod_mountinfo()
        );
        assert_eq!(
            id_from_mountinfo(&own).map(String::from),
            Some(ID.to_owned())
        );
    }

    #[test]
    fn in_a_pod_sharing_the_sandboxs_ipc_a_shm_of_the_sandbox_is_reported_as_the_network_owner() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mountinfo = dir.path().join("mountinfo");
        let cgroup = dir.path().join("cgroup");
        std::fs::write(&cgroup, "0::/\n").expect("write");
        // `--ipc container:<sandbox>` on an engine that binds the sandbox's shm directory.
        let shared = format!(
            "{}1054 1034 254:1 /var/lib/docker/containers/{SANDBOX}/mounts/shm /dev/shm rw - ext4 /dev/vda1 rw\n",
            pod_mountinfo()
        );
        std::fs::write(&mountinfo, &shared).expect("write");
        let (id, source) = detect_in(&mountinfo, &cgroup).expect("a candidate");
        assert_eq!(id.as_str(), SANDBOX);
        assert_eq!(source, Source::NetworkOwner, "not taken for its own");
        // Its own shm (a pod that does not share IPC): its own id.
        let own = format!(
            "{}1054 1034 254:1 /var/lib/docker/containers/{ID}/mounts/shm /dev/shm rw - ext4 /dev/vda1 rw\n",
            pod_mountinfo()
        );
        std::fs::write(&mountinfo, &own).expect("write");
        assert_eq!(
            detect_in(&mountinfo, &cgroup),
            Some((ContainerId::new(ID).expect("id"), Source::Mountinfo))
        );
    }

    #[test]
    fn kubelets_cgroup_paths_name_the_container_not_the_pod() {
        for text in [
            format!(
                "12:memory:/kubepods/besteffort/pod0f1e2d3c-aaaa-bbbb-cccc-000000000001/{ID}\n"
            ),
            format!("4:cpu:/kubepods/pod0f1e2d3c-aaaa-bbbb-cccc-000000000001/{ID}\n"),
            format!(
                "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_aaaa.slice/docker-{ID}.scope\n"
            ),
        ] {
            assert_eq!(
                id_from_cgroup(&text).map(String::from),
                Some(ID.to_owned()),
                "{text}"
            );
        }
        assert_eq!(
            id_from_cgroup("4:cpu:/kubepods/besteffort/pod0f1e2d3c\n"),
            None
        );
    }

    #[test]
    fn the_cgroup_comes_before_mountinfo() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mountinfo = dir.path().join("mountinfo");
        let cgroup = dir.path().join("cgroup");
        std::fs::write(
            &mountinfo,
            format!("93 72 254:0 /var/lib/docker/containers/{SANDBOX}/mounts/shm /dev/shm rw - ext4 /dev/vda rw\n"),
        )
        .expect("write");
        std::fs::write(&cgroup, format!("12:memory:/docker/{ID}\n")).expect("write");
        let (id, source) = detect_in(&mountinfo, &cgroup).expect("found");
        assert_eq!(id.as_str(), ID);
        assert_eq!(source, Source::Cgroup);
    }
}
