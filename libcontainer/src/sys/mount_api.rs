//! The new mount API: open_tree, fsopen/fsconfig/fsmount and move_mount
//! (mount_setattr lives in the parent module), so that every mount is made
//! detached and attached by descriptor; plus the small process helpers the
//! runtime uses to make a user namespace for an idmapping.

use std::ffi::CStr;
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
pub fn open_tree_clone(path: &CStr, recursive: bool) -> io::Result<OwnedFd> {
    open_tree_clone_at(libc::AT_FDCWD, path, 0, recursive)
}

/// [`open_tree_clone`] of what `fd` itself refers to (AT_EMPTY_PATH).
pub fn open_tree_clone_fd(fd: BorrowedFd<'_>, recursive: bool) -> io::Result<OwnedFd> {
    open_tree_clone_at(fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH as u32, recursive)
}

fn open_tree_clone_at(dir: RawFd, path: &CStr, at: u32, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32 | at;
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    // SAFETY: path is NUL-terminated; dir is AT_FDCWD or a descriptor the
    // caller borrows for the call; the flags are plain integers.
    let fd = check_long(unsafe { libc::syscall(libc::SYS_open_tree, dir, path.as_ptr(), flags) })?;
    // SAFETY: the kernel returned a fresh descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FLAG: libc::c_uint = 0;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;

/// fsopen(2): a filesystem context for a new mount of type `fstype`
/// (close-on-exec).
pub fn fsopen(fstype: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: fstype is NUL-terminated; the flag is a plain integer.
    let fd =
        check_long(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: the kernel returned a fresh descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// fsconfig(2) of one option of the context `fs`: `key=value`, or the flag
/// `key` when `value` is `None`.
pub fn fsconfig_set(fs: BorrowedFd<'_>, key: &CStr, value: Option<&CStr>) -> io::Result<()> {
    let (cmd, value) = match value {
        Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
        None => (FSCONFIG_SET_FLAG, std::ptr::null()),
    };
    // SAFETY: key (and value, when given) are NUL-terminated; a flag takes
    // a NULL value and aux 0, as fsconfig requires.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            cmd,
            key.as_ptr(),
            value,
            0,
        )
    })
    .map(drop)
}

/// fsconfig(2) FSCONFIG_CMD_CREATE: makes (or finds) the superblock.
pub fn fsconfig_create(fs: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: the command takes no key, value or aux.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })
    .map(drop)
}

/// fsmount(2): a detached mount of the superblock the context `fs`
/// created, with the MOUNT_ATTR_* `attrs` (close-on-exec).
pub fn fsmount(fs: BorrowedFd<'_>, attrs: u64) -> io::Result<OwnedFd> {
    // SAFETY: plain integers; fs is a descriptor the caller borrows.
    let fd = check_long(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            attrs as libc::c_uint,
        )
    })?;
    // SAFETY: the kernel returned a fresh descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// What the kernel logged on the filesystem context `fs` ("e tmpfs: Bad
/// value for 'size'"), one message per line; empty when it said nothing.
pub fn fs_context_messages(fs: BorrowedFd<'_>) -> String {
    let mut out = String::new();
    let mut buf = [0u8; 512];
    loop {
        // SAFETY: reads at most buf.len() bytes into a local buffer; each
        // read returns one message, ENODATA once none are left.
        let n = unsafe { libc::read(fs.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        let Ok(len) = usize::try_from(n) else { break };
        if len == 0 {
            break;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(String::from_utf8_lossy(&buf[..len]).trim_end());
    }
    out
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
