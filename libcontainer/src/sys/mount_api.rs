//! The new mount API calls that idmapped mounts need: open_tree and
//! move_mount (mount_setattr lives in the parent module), plus the small
//! process helpers the runtime uses to make a user namespace for a mapping.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::check_long;

/// open_tree(2) flag: clone the mount (tree) into a detached mount.
pub const OPEN_TREE_CLONE: u32 = 1;
/// mount_setattr(2) attribute: the mount takes the idmapping of a user namespace.
pub const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

/// open_tree(2) of `path` (absolute, or relative to the current directory)
/// with OPEN_TREE_CLONE: a detached copy of the mount at `path`, of the whole
/// tree below it when `recursive`. The descriptor is close-on-exec.
pub fn open_tree_clone(path: &std::ffi::CStr, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: path is NUL-terminated; the flags are plain integers.
    let fd = check_long(unsafe {
        libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags)
    })?;
    // SAFETY: the kernel returned a fresh descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// move_mount(2) of the detached mount `from` onto the object `to` refers to
/// (both by descriptor, AT_EMPTY_PATH style).
pub fn move_mount_fd(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    let empty = c"";
    // SAFETY: both descriptors are valid; the paths are empty NUL-terminated
    // strings, as the *_EMPTY_PATH flags require.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            empty.as_ptr(),
            to.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// pipe2(2) with O_CLOEXEC: (read end, write end).
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array we pass.
    super::check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both are fresh descriptors we now own.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Blocks in read(2) on `fd` until it has data or reaches EOF; retried on
/// EINTR. Async-signal-safe (no allocation), for a freshly forked child.
pub fn wait_readable_eof(fd: BorrowedFd<'_>) {
    let mut byte = 0u8;
    loop {
        // SAFETY: reads at most one byte into a local buffer.
        let r = unsafe { libc::read(fd.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) };
        if r >= 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}
