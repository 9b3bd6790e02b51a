//! Idmapped bind mounts: `mounts[].uidMappings`/`gidMappings` and the
//! `idmap`/`ridmap` options.
//!
//! The mounts are made by the runtime, in its own namespaces, before the
//! intermediate process is cloned: the bind source is cloned into a detached
//! mount (open_tree), given the idmapping of a user namespace that holds the
//! mount's mappings (mount_setattr MOUNT_ATTR_IDMAP), and the descriptor goes
//! to init, which attaches it at the destination it resolved inside the
//! rootfs (move_mount), in the config's order with the other mounts.
//!
//! Why the runtime and not init: the kernel lets only a holder of
//! CAP_SYS_ADMIN in the user namespace that owns the *filesystem* idmap a
//! mount. For the host's ext4 or tmpfs that is the initial user namespace,
//! which init has left when the container has a user namespace of its own
//! (the usual reason to want idmapped mounts). A detached mount can be
//! attached in any mount namespace its holder may mount in, so init can place
//! it after the switch of user namespace.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use oci_spec::runtime::{LinuxIdMapping, Mount, Spec};

use crate::error::{BundleError, ChildError};
use crate::rootfs::mount_options;
use crate::rootfs::path::cstr;
use crate::sys;

/// One idmapped mount of the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdmapRequest {
    /// Index in `mounts`.
    pub index: usize,
    /// The bind source on the host.
    pub source: PathBuf,
    /// Clone the whole tree below the source (rbind).
    pub recursive_bind: bool,
    /// Idmap the submounts too (ridmap).
    pub recursive_idmap: bool,
    /// uid_map of the user namespace giving the mapping.
    pub uid_map: String,
    /// gid_map of the same.
    pub gid_map: String,
}

fn format_map(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Whether mount `m` asks for an idmapping.
pub fn is_idmapped(m: &Mount) -> bool {
    let opts = m.options().as_deref().unwrap_or_default();
    m.uid_mappings().is_some()
        || m.gid_mappings().is_some()
        || opts.iter().any(|o| o == "idmap" || o == "ridmap")
}

fn check_maps(field: String, maps: &[LinuxIdMapping]) -> Result<(), BundleError> {
    if maps.is_empty() {
        return Err(BundleError::invalid(field, "is empty"));
    }
    for (j, m) in maps.iter().enumerate() {
        if m.size() == 0 {
            return Err(BundleError::invalid(format!("{field}[{j}].size"), "is 0"));
        }
    }
    Ok(())
}

/// The idmapped mounts of `spec`, checked: bind mounts only, uid and gid
/// mappings together, and without explicit mappings a user namespace whose
/// maps can be used instead.
pub fn requests(spec: &Spec) -> Result<Vec<IdmapRequest>, BundleError> {
    let linux = spec.linux().clone().unwrap_or_default();
    let mut out = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !is_idmapped(m) {
            continue;
        }
        let options = m.options().clone().unwrap_or_default();
        let opts = mount_options::parse(&options);
        let field = if m.uid_mappings().is_some() {
            format!("mounts[{i}].uidMappings")
        } else if m.gid_mappings().is_some() {
            format!("mounts[{i}].gidMappings")
        } else {
            format!("mounts[{i}].options")
        };
        if !opts.is_bind() {
            return Err(BundleError::invalid(
                field,
                format!(
                    "idmapped mounts must be bind mounts (options \"bind\" or \"rbind\"), \
                     not type {:?}",
                    m.typ().as_deref().unwrap_or_default()
                ),
            ));
        }
        let (uid, gid) = match (m.uid_mappings(), m.gid_mappings()) {
            (Some(u), Some(g)) => {
                check_maps(format!("mounts[{i}].uidMappings"), u)?;
                check_maps(format!("mounts[{i}].gidMappings"), g)?;
                (format_map(u), format_map(g))
            }
            (Some(_), None) => {
                return Err(BundleError::invalid(
                    format!("mounts[{i}].gidMappings"),
                    "missing: uidMappings and gidMappings are given together",
                ))
            }
            (None, Some(_)) => {
                return Err(BundleError::invalid(
                    format!("mounts[{i}].uidMappings"),
                    "missing: uidMappings and gidMappings are given together",
                ))
            }
            (None, None) => {
                // The container's own user namespace mappings.
                let u = linux.uid_mappings().clone().unwrap_or_default();
                let g = linux.gid_mappings().clone().unwrap_or_default();
                if u.is_empty() || g.is_empty() {
                    return Err(BundleError::invalid(
                        field,
                        "\"idmap\"/\"ridmap\" without uidMappings and gidMappings takes the \
                         container's user namespace mappings, but linux.uidMappings or \
                         linux.gidMappings is not set",
                    ));
                }
                (format_map(&u), format_map(&g))
            }
        };
        let source = m
            .source()
            .clone()
            .ok_or_else(|| BundleError::invalid(format!("mounts[{i}].source"), "missing"))?;
        out.push(IdmapRequest {
            index: i,
            source,
            recursive_bind: opts.flags & libc::MS_REC != 0,
            recursive_idmap: opts.ridmap,
            uid_map: uid,
            gid_map: gid,
        });
    }
    Ok(out)
}

/// A user namespace that exists only to carry a mapping: a child born in a
/// new user namespace whose maps we write, kept until we hold an fd of it.
fn mapping_userns(uid_map: &str, gid_map: &str, field: &str) -> Result<OwnedFd, ChildError> {
    let what = |s: &str| format!("{field}: {s}");
    let (r, w) = sys::pipe().map_err(|e| ChildError::io(what("pipe"), &e))?;
    // The child only blocks in read(2) and exits: async-signal-safe, so this
    // is sound from a multi-threaded embedder too.
    let pid = match sys::clone_process(libc::CLONE_NEWUSER as libc::c_ulong)
        .map_err(|e| ChildError::io(what("create a user namespace for the mapping"), &e))?
    {
        sys::CloneResult::Child => {
            drop(w);
            sys::wait_readable_eof(r.as_fd());
            sys::exit_now(0)
        }
        sys::CloneResult::Parent(pid) => pid,
    };
    drop(r);
    let result = (|| {
        std::fs::write(format!("/proc/{pid}/uid_map"), uid_map).map_err(|e| {
            ChildError::io(what(&format!("write uid_map {:?}", uid_map.trim())), &e)
        })?;
        std::fs::write(format!("/proc/{pid}/gid_map"), gid_map).map_err(|e| {
            ChildError::io(what(&format!("write gid_map {:?}", gid_map.trim())), &e)
        })?;
        let path = cstr(format!("/proc/{pid}/ns/user"))
            .map_err(|e| ChildError::io(what("user namespace path"), &e))?;
        sys::open(&path, libc::O_RDONLY, 0)
            .map_err(|e| ChildError::io(what("open the mapping's user namespace"), &e))
    })();
    // SIGKILL too: a process forked meanwhile by another thread of an
    // embedder may hold a copy of the write end.
    drop(w);
    let _ = sys::kill(pid, libc::SIGKILL);
    let _ = sys::waitpid(pid, 0);
    result
}

/// Makes the detached, idmapped mount of every request; returns (mount
/// index, mount fd) in config order. Mounts with the same mappings share
/// one user namespace.
pub fn prepare(spec: &Spec) -> Result<Vec<(usize, OwnedFd)>, ChildError> {
    let requests = requests(spec).map_err(|e| ChildError::msg("mounts", e.to_string()))?;
    let mut userns: HashMap<(String, String), OwnedFd> = HashMap::new();
    let mut out = Vec::with_capacity(requests.len());
    for r in &requests {
        let field = format!("mounts[{}]", r.index);
        let key = (r.uid_map.clone(), r.gid_map.clone());
        if !userns.contains_key(&key) {
            let fd = mapping_userns(&r.uid_map, &r.gid_map, &field)?;
            userns.insert(key.clone(), fd);
        }
        let ns = userns
            .get(&key)
            .ok_or_else(|| ChildError::msg(field.clone(), "user namespace vanished"))?;
        let src = cstr(&r.source).map_err(|e| ChildError::io(field.clone(), &e))?;
        let tree = sys::open_tree_clone(&src, r.recursive_bind)
            .map_err(|e| ChildError::io(format!("{field}: clone {}", r.source.display()), &e))?;
        let attr = sys::MountAttr {
            attr_set: sys::MOUNT_ATTR_IDMAP,
            userns_fd: std::os::fd::AsRawFd::as_raw_fd(ns) as u64,
            ..Default::default()
        };
        if let Err(e) = sys::mount_setattr(tree.as_fd(), r.recursive_idmap, &attr) {
            let why = if e.raw_os_error() == Some(libc::EINVAL) {
                format!(
                    "{}: the filesystem{} does not support idmapped mounts",
                    r.source.display(),
                    if r.recursive_idmap {
                        " (or one mounted below it: ridmap maps them all)"
                    } else {
                        ""
                    }
                )
            } else {
                format!("idmap {}", r.source.display())
            };
            return Err(ChildError::io(format!("{field}: {why}"), &e));
        }
        out.push((r.index, tree));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mounts: serde_json::Value, linux: serde_json::Value) -> Spec {
        let v = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["sh"]},
            "mounts": mounts,
            "linux": linux,
        });
        serde_json::from_value(v).unwrap()
    }

    fn map(c: u32, h: u32, s: u32) -> serde_json::Value {
        serde_json::json!([{"containerID": c, "hostID": h, "size": s}])
    }

    #[test]
    fn explicit_mappings_and_container_mappings() {
        let s = spec(
            serde_json::json!([
                {"destination": "/a", "type": "bind", "source": "/tmp", "options": ["rbind", "ridmap"],
                 "uidMappings": map(0, 1000, 10), "gidMappings": map(0, 2000, 10)},
                {"destination": "/b", "type": "bind", "source": "/tmp", "options": ["bind", "idmap"]},
                {"destination": "/c", "type": "tmpfs", "source": "tmpfs"}
            ]),
            serde_json::json!({"namespaces": [{"type": "user"}, {"type": "mount"}],
                               "uidMappings": map(0, 100000, 65536),
                               "gidMappings": map(0, 100000, 65536)}),
        );
        let r = requests(&s).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(
            (r[0].index, r[0].recursive_bind, r[0].recursive_idmap),
            (0, true, true)
        );
        assert_eq!(r[0].uid_map, "0 1000 10\n");
        assert_eq!(r[0].gid_map, "0 2000 10\n");
        assert_eq!(
            (r[1].index, r[1].recursive_bind, r[1].recursive_idmap),
            (1, false, false)
        );
        assert_eq!(r[1].uid_map, "0 100000 65536\n");
    }

    #[test]
    fn bad_idmapped_mounts_name_the_field() {
        let cases = [
            (
                serde_json::json!([{"destination": "/a", "type": "tmpfs", "source": "tmpfs",
                                    "uidMappings": map(0, 1, 1), "gidMappings": map(0, 1, 1)}]),
                "mounts[0].uidMappings",
            ),
            (
                serde_json::json!([{"destination": "/a", "source": "/tmp", "options": ["bind"],
                                    "uidMappings": map(0, 1, 1)}]),
                "mounts[0].gidMappings",
            ),
            (
                serde_json::json!([{"destination": "/a", "source": "/tmp", "options": ["bind"],
                                    "uidMappings": map(0, 1, 0), "gidMappings": map(0, 1, 1)}]),
                "mounts[0].uidMappings[0].size",
            ),
            (
                serde_json::json!([{"destination": "/a", "source": "/tmp",
                                    "options": ["bind", "idmap"]}]),
                "mounts[0].options",
            ),
        ];
        for (mounts, field) in cases {
            let s = spec(
                mounts,
                serde_json::json!({"namespaces": [{"type": "mount"}]}),
            );
            let text = requests(&s).unwrap_err().to_string();
            assert!(text.starts_with(field), "{field}: {text}");
        }
    }
}
