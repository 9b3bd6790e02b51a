//! Resolving paths inside the container's root without ever leaving it.
//!
//! Every lookup goes through openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
//! on a descriptor of the root, so `..` and symlinks (absolute or relative)
//! in the rootfs resolve as they would inside the container and can never
//! reach the host. Mounts then target `/proc/self/fd/N` of the opened
//! descriptor, so a path swapped after the check is not followed again.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path};

use crate::sys;

const RESOLVE: u64 = sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_MAGICLINKS;

/// Turns a path into a C string, rejecting interior NULs.
pub fn cstr(path: impl AsRef<std::ffi::OsStr>) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_ref().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// `/proc/self/fd/N` for a descriptor, for mount(2) and friends.
pub fn fd_path(fd: BorrowedFd<'_>) -> CString {
    // A decimal number never contains NUL.
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap_or_default()
}

/// The path relative to the root ("." for the root itself).
fn relative(path: &Path) -> io::Result<CString> {
    let rel: std::path::PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
        .collect();
    if rel.as_os_str().is_empty() {
        cstr(".")
    } else {
        cstr(rel)
    }
}

/// Opens `path` (absolute, as seen inside the container) under `root`.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    sys::openat2(root, &relative(path)?, flags, 0, RESOLVE)
}

/// Like `mkdir -p` inside the root; returns an O_PATH descriptor of the
/// directory.
pub fn mkdir_all_in_root(root: BorrowedFd<'_>, path: &Path, mode: u32) -> io::Result<OwnedFd> {
    let mut current = sys::openat(root, &cstr(".")?, libc::O_PATH | libc::O_DIRECTORY, 0)?;
    let mut prefix = std::path::PathBuf::from("/");
    for comp in path.components() {
        let Component::Normal(name) = comp else {
            if comp == Component::ParentDir {
                prefix.push("..");
                current = open_in_root(root, &prefix, libc::O_PATH | libc::O_DIRECTORY)?;
            }
            continue;
        };
        prefix.push(name);
        match open_in_root(root, &prefix, libc::O_PATH | libc::O_DIRECTORY) {
            Ok(fd) => current = fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                match sys::mkdirat(current.as_fd(), &cstr(name)?, mode) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                    Err(e) => return Err(e),
                }
                current = open_in_root(root, &prefix, libc::O_PATH | libc::O_DIRECTORY)?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(current)
}

/// Makes sure a regular file exists at `path` inside the root (as a bind
/// mount target) and returns an O_PATH descriptor of it.
pub fn create_file_in_root(root: BorrowedFd<'_>, path: &Path) -> io::Result<OwnedFd> {
    match open_in_root(root, path, libc::O_PATH) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let (dir, name) = parent_dir_in_root(root, path)?;
    match sys::openat(
        dir.as_fd(),
        &name,
        libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
        0o644,
    ) {
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
        Err(e) => return Err(e),
    }
    open_in_root(root, path, libc::O_PATH)
}

/// Splits an absolute path into its parent and last component.
pub fn split(path: &Path) -> io::Result<(&Path, &std::ffi::OsStr)> {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => Ok((parent, name)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no file name", path.display()),
        )),
    }
}

/// Opens the parent directory of `path` inside the root (creating it) for
/// *at() calls on the last component.
pub fn parent_dir_in_root(root: BorrowedFd<'_>, path: &Path) -> io::Result<(OwnedFd, CString)> {
    let (parent, name) = split(path)?;
    let dir = mkdir_all_in_root(root, parent, 0o755)?;
    let dir = sys::openat(
        dir.as_fd(),
        &cstr(".")?,
        libc::O_DIRECTORY | libc::O_RDONLY,
        0,
    )?;
    Ok((dir, cstr(name)?))
}
