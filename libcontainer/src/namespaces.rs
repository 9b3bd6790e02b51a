//! Which namespaces the container gets: new ones (unshare/clone) and
//! existing ones joined by path (setns), in the order the kernel needs.

use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// The CLONE_NEW* flag of a namespace type.
pub fn clone_flag(t: LinuxNamespaceType) -> libc::c_int {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// The namespace plan of a config.
#[derive(Debug, Clone, Default)]
pub struct NamespacePlan {
    /// Namespaces to join, user first (so the others are joined with its
    /// privileges).
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
    /// CLONE_NEW* flags of the new namespaces other than user and cgroup.
    pub new_flags: libc::c_int,
    /// A new user namespace is requested.
    pub new_user: bool,
    /// A new cgroup namespace is requested (unshared by init once it is in
    /// its cgroup, so the namespace root is the container's cgroup).
    pub new_cgroup: bool,
    /// The container has its own pid namespace (new or joined).
    pub own_pid: bool,
}

impl NamespacePlan {
    /// Reads linux.namespaces (validated beforehand).
    pub fn from_spec(spec: &Spec) -> NamespacePlan {
        let mut plan = NamespacePlan::default();
        let namespaces = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        for ns in &namespaces {
            let t = ns.typ();
            if t == LinuxNamespaceType::Pid {
                plan.own_pid = true;
            }
            match ns.path() {
                Some(path) => plan.join.push((t, path.clone())),
                None if t == LinuxNamespaceType::User => plan.new_user = true,
                None if t == LinuxNamespaceType::Cgroup => plan.new_cgroup = true,
                None => plan.new_flags |= clone_flag(t),
            }
        }
        plan.join
            .sort_by_key(|(t, _)| if *t == LinuxNamespaceType::User { 0 } else { 1 });
        plan
    }

    /// Whether init has a mount namespace of its own (new or joined): only
    /// then are the rootfs mounts made, never in the runtime's namespace.
    pub fn has_mount(&self) -> bool {
        self.new_flags & libc::CLONE_NEWNS != 0
            || self
                .join
                .iter()
                .any(|(t, _)| *t == LinuxNamespaceType::Mount)
    }

    /// Whether init ends up in a user namespace other than the host's.
    pub fn in_user_ns(&self) -> bool {
        self.new_user
            || self
                .join
                .iter()
                .any(|(t, _)| *t == LinuxNamespaceType::User)
    }
}
