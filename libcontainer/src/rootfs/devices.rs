//! /dev inside the container: the default devices, linux.devices, and the
//! standard symlinks.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::path::{self, cstr, fd_path, open_in_root};
use super::RootfsContext;
use crate::error::ChildError;
use crate::sys;

/// A device node to create.
#[derive(Debug, Clone)]
pub struct DeviceNode {
    /// Absolute path inside the container.
    pub path: PathBuf,
    /// S_IFCHR, S_IFBLK or S_IFIFO.
    pub kind: u32,
    /// Major number.
    pub major: u64,
    /// Minor number.
    pub minor: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// The devices every container gets (the runtime spec's list).
pub fn default_devices() -> Vec<DeviceNode> {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
    .into_iter()
    .map(|(p, major, minor)| DeviceNode {
        path: PathBuf::from(p),
        kind: libc::S_IFCHR,
        major,
        minor,
        mode: 0o666,
        uid: 0,
        gid: 0,
    })
    .collect()
}

fn config_devices(ctx: &RootfsContext<'_>) -> Result<Vec<DeviceNode>, ChildError> {
    let mut out = Vec::new();
    let devices = ctx
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().clone())
        .unwrap_or_default();
    for (i, d) in devices.iter().enumerate() {
        use oci_spec::runtime::LinuxDeviceType as T;
        let kind = match d.typ() {
            T::C | T::U => libc::S_IFCHR,
            T::B => libc::S_IFBLK,
            T::P => libc::S_IFIFO,
            T::A => {
                return Err(ChildError::msg(
                    format!("linux.devices[{i}].type"),
                    "\"a\" is only valid in cgroup rules",
                ))
            }
        };
        out.push(DeviceNode {
            path: d.path().clone(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666) & 0o7777,
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    Ok(out)
}

/// Creates the default and configured device nodes under the rootfs.
pub fn create_devices(ctx: &RootfsContext<'_>, root: BorrowedFd<'_>) -> Result<(), ChildError> {
    let configured = config_devices(ctx)?;
    let defaults = default_devices()
        .into_iter()
        .filter(|d| !configured.iter().any(|c| c.path == d.path));
    for dev in defaults.chain(configured.iter().cloned()) {
        let r = if ctx.in_user_ns {
            bind_host_device(root, &dev)
        } else {
            make_node(root, &dev)
        };
        r.map_err(|e| ChildError::io(format!("create device {}", dev.path.display()), &e))?;
    }
    Ok(())
}

fn make_node(root: BorrowedFd<'_>, dev: &DeviceNode) -> io::Result<()> {
    let (dir, name) = path::parent_dir_in_root(root, &dev.path)?;
    let devnum = libc::makedev(dev.major as u32, dev.minor as u32);
    match sys::mknodat(dir.as_fd(), &name, dev.kind | dev.mode, devnum) {
        Ok(()) => {}
        // Replace whatever the image shipped at that path.
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
            sys::unlinkat(dir.as_fd(), &name, 0)?;
            sys::mknodat(dir.as_fd(), &name, dev.kind | dev.mode, devnum)?;
        }
        Err(e) => return Err(e),
    }
    let node = sys::openat(dir.as_fd(), &name, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
    let p = fd_path(node.as_fd());
    // mknod honours the umask; set the exact mode and owner.
    std::fs::set_permissions(
        Path::new(&*p.to_string_lossy()),
        std::os::unix::fs::PermissionsExt::from_mode(dev.mode),
    )?;
    std::os::unix::fs::chown(
        Path::new(&*p.to_string_lossy()),
        Some(dev.uid),
        Some(dev.gid),
    )
}

/// In a user namespace mknod is not allowed: bind the host's node instead.
fn bind_host_device(root: BorrowedFd<'_>, dev: &DeviceNode) -> io::Result<()> {
    let target = path::create_file_in_root(root, &dev.path)?;
    let src = cstr(&dev.path)?;
    sys::mount(
        Some(&src),
        &fd_path(target.as_fd()),
        None,
        libc::MS_BIND,
        None,
    )
}

/// The symlinks a container expects in /dev.
pub fn create_dev_symlinks(root: BorrowedFd<'_>) -> Result<(), ChildError> {
    let links = [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
        ("/dev/ptmx", "pts/ptmx"),
    ];
    for (link, target) in links {
        let what = || format!("symlink {link}");
        let (dir, name) = path::parent_dir_in_root(root, Path::new(link))
            .map_err(|e| ChildError::io(what(), &e))?;
        let target_c = cstr(target).map_err(|e| ChildError::io(what(), &e))?;
        match sys::symlinkat(&target_c, dir.as_fd(), &name) {
            Ok(()) => {}
            // ptmx may exist as a node or a bind; leave what the mounts made.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => return Err(ChildError::io(what(), &e)),
        }
    }
    Ok(())
}

/// Opens /dev/null inside the root and checks that it really is the null
/// device (character 1:3), so a container cannot make berth bind something
/// else over a masked path.
pub fn open_verified_null(root: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let fd = open_in_root(
        root,
        Path::new("/dev/null"),
        libc::O_PATH | libc::O_NOFOLLOW,
    )?;
    let st = sys::fstat(fd.as_fd())?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "/dev/null in the container is not the null device",
        ));
    }
    Ok(fd)
}
