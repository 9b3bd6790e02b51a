//! Mounts made detached and attached by descriptor.
//!
//! A new filesystem comes from fsopen/fsconfig/fsmount, a bind from
//! open_tree(OPEN_TREE_CLONE); either is attached with move_mount onto a
//! target resolved inside the rootfs. The descriptor stays a handle on the
//! new mount once attached, so whatever follows (remount flags, mount
//! attributes, propagation) reaches that mount and no other, even if the
//! rootfs changes under its path meanwhile. Nothing looks the mount up by
//! path again.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use super::path::cstr;
use crate::sys;

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;

/// The per-mount MS_* flags as fsmount's MOUNT_ATTR_* (relatime, the
/// default, is 0 there as in mount(2)).
fn mount_attrs(flags: libc::c_ulong) -> u64 {
    [
        (libc::MS_RDONLY, MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, MOUNT_ATTR_NOEXEC),
        (libc::MS_NOATIME, MOUNT_ATTR_NOATIME),
        (libc::MS_STRICTATIME, MOUNT_ATTR_STRICTATIME),
        (libc::MS_NODIRATIME, MOUNT_ATTR_NODIRATIME),
    ]
    .iter()
    .filter(|(ms, _)| flags & ms != 0)
    .fold(0, |attrs, (_, attr)| attrs | attr)
}

/// The superblock MS_* flags as the option names fsconfig takes for them
/// (mount(2) gives a new superblock the same ones).
fn superblock_options(flags: libc::c_ulong) -> impl Iterator<Item = &'static CStr> {
    [
        (libc::MS_RDONLY, c"ro"),
        (libc::MS_SYNCHRONOUS, c"sync"),
        (libc::MS_DIRSYNC, c"dirsync"),
        (libc::MS_LAZYTIME, c"lazytime"),
    ]
    .into_iter()
    .filter(move |(ms, _)| flags & ms != 0)
    .map(|(_, name)| name)
}

/// Splits mount data ("mode=755,size=64k") into (key, value) pairs the way
/// mount(2) does, but keeping a comma inside double quotes (an SELinux
/// `context="a,b"`) in its value, without the quotes.
fn data_options(data: &str) -> Vec<(&str, Option<&str>)> {
    let mut options = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in data.char_indices().chain([(data.len(), ',')]) {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                let option = &data[start..i];
                start = i + 1;
                if option.is_empty() {
                    continue;
                }
                options.push(match option.split_once('=') {
                    Some((key, value)) => (key, Some(value.trim_matches('"'))),
                    None => (option, None),
                });
            }
            _ => {}
        }
    }
    options
}

/// The error of a filesystem context step, with what the kernel logged on
/// the context ("tmpfs: Bad value for 'size'") when it said anything.
fn with_kernel_messages(fs: BorrowedFd<'_>, err: io::Error) -> io::Error {
    let said = sys::fs_context_messages(fs);
    if said.is_empty() {
        return err;
    }
    let said: Vec<&str> = said
        .lines()
        .map(|l| l.strip_prefix("e ").or(l.strip_prefix("w ")).unwrap_or(l))
        .collect();
    io::Error::new(err.kind(), format!("{err}: {}", said.join("; ")))
}

/// A new, detached mount of a `fstype` filesystem from `source`, with the
/// mount data `data` and the MS_* `flags` (superblock and per-mount), as
/// mount(2) would make it.
pub fn new_filesystem(
    fstype: &str,
    source: &str,
    data: &str,
    flags: libc::c_ulong,
) -> io::Result<OwnedFd> {
    let fs = sys::fsopen(&cstr(fstype)?)?;
    let configure = || -> io::Result<()> {
        sys::fsconfig_set(fs.as_fd(), c"source", Some(&cstr(source)?))?;
        for name in superblock_options(flags) {
            sys::fsconfig_set(fs.as_fd(), name, None)?;
        }
        for (key, value) in data_options(data) {
            let value = value.map(CString::new).transpose()?;
            sys::fsconfig_set(fs.as_fd(), &cstr(key)?, value.as_deref())?;
        }
        sys::fsconfig_create(fs.as_fd())
    };
    configure().map_err(|e| with_kernel_messages(fs.as_fd(), e))?;
    sys::fsmount(fs.as_fd(), mount_attrs(flags)).map_err(|e| with_kernel_messages(fs.as_fd(), e))
}

/// A detached copy of the mount at `source` (a bind; of its submounts too
/// when `recursive`).
pub fn bind_of_path(source: &CStr, recursive: bool) -> io::Result<OwnedFd> {
    sys::open_tree_clone(source, recursive)
}

/// A detached copy of the mount at what `fd` refers to.
pub fn bind_of_fd(fd: BorrowedFd<'_>, recursive: bool) -> io::Result<OwnedFd> {
    sys::open_tree_clone_fd(fd, recursive)
}

/// Attaches the detached mount `mount` on `target`; `mount` then names the
/// attached mount.
pub fn attach(mount: &OwnedFd, target: BorrowedFd<'_>) -> io::Result<()> {
    sys::move_mount_fd(mount.as_fd(), target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_splits_like_mount_and_keeps_quoted_commas() {
        assert_eq!(
            data_options("mode=755,size=65536k,,nr_inodes=0"),
            vec![
                ("mode", Some("755")),
                ("size", Some("65536k")),
                ("nr_inodes", Some("0"))
            ]
        );
        assert_eq!(
            data_options("newinstance,ptmxmode=0666"),
            vec![("newinstance", None), ("ptmxmode", Some("0666"))]
        );
        assert_eq!(
            data_options(r#"context="system_u:object_r:c1,c2",mode=1777"#),
            vec![
                ("context", Some("system_u:object_r:c1,c2")),
                ("mode", Some("1777"))
            ]
        );
        assert!(data_options("").is_empty());
    }

    #[test]
    fn flags_map_to_attributes_and_superblock_options() {
        let flags = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_SYNCHRONOUS;
        assert_eq!(
            mount_attrs(flags),
            MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC
        );
        let names: Vec<&CStr> = superblock_options(flags).collect();
        assert_eq!(names, vec![c"ro", c"sync"]);
        assert_eq!(mount_attrs(libc::MS_RELATIME), 0);
    }
}
