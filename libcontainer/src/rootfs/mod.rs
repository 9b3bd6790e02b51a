//! The container's root filesystem: mounts, /dev, pivot_root, masked and
//! read-only paths, sysctls. Runs inside init, in the new mount namespace.

mod detached;
pub mod devices;
pub mod idmap;
pub mod mount_options;
pub mod path;

use std::io::ErrorKind;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, Spec};

use crate::error::ChildError;
use crate::sys;
use path::{cstr, fd_path, open_in_root};

const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// Mount flags the kernel locks on a bind mount made in a user namespace;
/// a remount must keep them.
const LOCKED_FLAGS: libc::c_ulong = libc::MS_NOSUID
    | libc::MS_NODEV
    | libc::MS_NOEXEC
    | libc::MS_NOATIME
    | libc::MS_NODIRATIME
    | libc::MS_RELATIME;

type Res<T = ()> = Result<T, ChildError>;

fn step<T>(what: impl FnOnce() -> String, r: std::io::Result<T>) -> Res<T> {
    r.map_err(|e| ChildError::io(what(), &e))
}

/// What the rootfs setup needs to know beyond the spec.
pub struct RootfsContext<'a> {
    /// The config.
    pub spec: &'a Spec,
    /// Absolute path of the rootfs on the host.
    pub rootfs: &'a Path,
    /// Whether init runs in a new user namespace (no mknod, locked flags).
    pub in_user_ns: bool,
    /// Whether init has its own cgroup namespace.
    pub own_cgroup_ns: bool,
    /// Use MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// (mount index, fd) of the detached idmapped mounts the runtime made
    /// ([`idmap`]), inherited by init.
    pub idmapped: &'a [(usize, std::os::fd::RawFd)],
}

/// Which of the config's mounts wait for init's cgroup (and cgroup
/// namespace): the cgroup mounts and every later mount below one of them.
fn deferred_mounts(mounts: &[Mount]) -> Vec<bool> {
    let mut deferred: Vec<bool> = Vec::with_capacity(mounts.len());
    for (i, m) in mounts.iter().enumerate() {
        let under_deferred = mounts[..i]
            .iter()
            .zip(&deferred)
            .any(|(earlier, d)| *d && m.destination().starts_with(earlier.destination()));
        deferred.push(m.typ().as_deref() == Some("cgroup") || under_deferred);
    }
    deferred
}

/// Everything before the switch of root that does not depend on init's
/// cgroup: propagation, the bind of the rootfs onto itself, the config's
/// mounts but the cgroup ones, and /dev. Runs while the runtime is still
/// placing init in its cgroup.
pub fn prepare(ctx: &RootfsContext<'_>) -> Res {
    let slash = cstr("/").map_err(|e| ChildError::io("/", &e))?;
    // Keep our mounts from reaching the host (and the host's from reaching
    // us, unless the config asks for shared propagation later).
    step(
        || "make / a recursive slave".into(),
        sys::mount(None, &slash, None, libc::MS_SLAVE | libc::MS_REC, None),
    )?;
    let rootfs_c = step(|| "rootfs path".into(), cstr(ctx.rootfs))?;
    step(
        || format!("bind {} onto itself", ctx.rootfs.display()),
        sys::mount(
            Some(&rootfs_c),
            &rootfs_c,
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        ),
    )?;
    let root = step(
        || format!("open {}", ctx.rootfs.display()),
        sys::open(&rootfs_c, libc::O_PATH | libc::O_DIRECTORY, 0),
    )?;
    let mounts = ctx.spec.mounts().clone().unwrap_or_default();
    for (i, (m, deferred)) in mounts.iter().zip(deferred_mounts(&mounts)).enumerate() {
        if !deferred {
            mount_one(ctx, root.as_fd(), i, m)?;
        }
    }
    let dev_is_bind = mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && mount_options::parse(m.options().as_deref().unwrap_or_default()).is_bind()
    });
    if !dev_is_bind {
        devices::create_devices(ctx, root.as_fd())?;
        devices::create_dev_symlinks(root.as_fd())?;
    }
    Ok(())
}

/// The mounts [`prepare`] left for after init is in its cgroup (and has
/// unshared its cgroup namespace), in the config's order.
pub fn mount_cgroup_dependent(ctx: &RootfsContext<'_>) -> Res {
    let mounts = ctx.spec.mounts().clone().unwrap_or_default();
    let deferred = deferred_mounts(&mounts);
    if !deferred.contains(&true) {
        return Ok(());
    }
    let rootfs_c = step(|| "rootfs path".into(), cstr(ctx.rootfs))?;
    let root = step(
        || format!("open {}", ctx.rootfs.display()),
        sys::open(&rootfs_c, libc::O_PATH | libc::O_DIRECTORY, 0),
    )?;
    for (i, (m, _)) in mounts
        .iter()
        .zip(deferred)
        .enumerate()
        .filter(|(_, (_, d))| *d)
    {
        mount_one(ctx, root.as_fd(), i, m)?;
    }
    Ok(())
}

/// Where `fd` lies in the root `root`, as an absolute path inside it (from
/// the kernel's name of the descriptor, so after every symlink).
fn path_in_root(root: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> std::io::Result<Option<PathBuf>> {
    use std::os::unix::ffi::OsStrExt;
    let name = |fd| std::fs::read_link(std::ffi::OsStr::from_bytes(fd_path(fd).as_bytes()));
    let (root, fd) = (name(root)?, name(fd)?);
    Ok(fd
        .strip_prefix(&root)
        .ok()
        .map(|rel| Path::new("/").join(rel)))
}

/// The bundle's rules on mount destinations, applied to where mount `i`
/// really lands: a symlink in the image can lead a harmless destination
/// (`/p/kernel`, `/p -> /proc/sys`) into /proc or onto the root.
fn check_landing(
    root: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
    i: usize,
    m: &Mount,
) -> Res<PathBuf> {
    let field = || format!("mounts[{i}].destination");
    let Some(landing) = step(field, path_in_root(root, target))? else {
        return Err(ChildError::msg(
            field(),
            format!("{:?} leads outside the rootfs", m.destination()),
        ));
    };
    crate::bundle::check_mount_destination(m, &landing).map_err(|why| {
        ChildError::msg(
            field(),
            format!(
                "{:?} leads to {} in the rootfs, which {why}",
                m.destination(),
                landing.display()
            ),
        )
    })?;
    Ok(landing)
}

fn mount_one(ctx: &RootfsContext<'_>, root: BorrowedFd<'_>, i: usize, m: &Mount) -> Res {
    let dest = m.destination();
    let what = || format!("mount {}", dest.display());
    let opts = mount_options::parse(m.options().as_deref().unwrap_or_default());
    let typ = m.typ().clone().unwrap_or_default();
    if typ == "cgroup" {
        let target = step(what, path::mkdir_all_in_root(root, dest, 0o755))?;
        let landing = check_landing(root, target.as_fd(), i, m)?;
        return mount_cgroup(ctx, target, &landing, &opts);
    }
    let source = m.source().clone().unwrap_or_else(|| PathBuf::from(&typ));
    let target = if opts.is_bind() {
        let src_is_dir = step(
            || format!("mount {}: source {}", dest.display(), source.display()),
            std::fs::metadata(&source),
        )?
        .is_dir();
        if src_is_dir {
            path::mkdir_all_in_root(root, dest, 0o755)
        } else {
            path::create_file_in_root(root, dest)
        }
    } else {
        path::mkdir_all_in_root(root, dest, 0o755)
    };
    let target = step(what, target)?;
    check_landing(root, target.as_fd(), i, m)?;
    // Made detached and attached by descriptor (see `detached`): from here
    // `mount` names the new mount, whatever happens to its path.
    let mount = if opts.is_bind() {
        let mount = if idmap::is_idmapped(m) {
            idmapped_mount(ctx, i)?
        } else {
            let src = step(what, cstr(&source))?;
            let recursive = opts.flags & libc::MS_REC != 0;
            step(what, detached::bind_of_path(&src, recursive))?
        };
        step(what, detached::attach(&mount, target.as_fd()))?;
        let extra = opts.flags & !(libc::MS_BIND | libc::MS_REC | libc::MS_REMOUNT);
        if extra != 0 {
            remount(&mount, extra, what)?;
        }
        mount
    } else {
        // tmpcopyup: keep a handle on the directory the tmpfs will cover.
        let lower = if opts.copy_up && typ == "tmpfs" {
            Some(step(
                what,
                sys::openat(target.as_fd(), c".", libc::O_RDONLY | libc::O_DIRECTORY, 0),
            )?)
        } else {
            None
        };
        // The mount is new, so "remount" has nothing to remount: its flags
        // apply now (as for bind mounts above).
        let mut flags = opts.flags & !libc::MS_REMOUNT;
        // A read-only tmpcopyup is filled first, then made read-only.
        let read_only_after_copy = lower.is_some() && flags & libc::MS_RDONLY != 0;
        if read_only_after_copy {
            flags &= !libc::MS_RDONLY;
        }
        let made = detached::new_filesystem(&typ, &source.to_string_lossy(), &opts.data, flags);
        let (mount, remount_flags) = match made {
            // sysfs cannot be mounted in a user namespace that does not own
            // the network namespace: bind the host's, as runc does.
            Err(e)
                if typ == "sysfs" && ctx.in_user_ns && e.kind() == ErrorKind::PermissionDenied =>
            {
                let host_sys = step(what, detached::bind_of_path(c"/sys", true))?;
                (host_sys, Some(opts.flags))
            }
            made => {
                let mount = step(what, made)?;
                (mount, read_only_after_copy.then_some(opts.flags))
            }
        };
        // Filled before it is attached: the container never sees it half-full.
        if let Some(lower) = lower {
            step(what, copy_up(&lower, &mount))?;
        }
        step(what, detached::attach(&mount, target.as_fd()))?;
        if let Some(flags) = remount_flags {
            remount(&mount, flags, what)?;
        }
        mount
    };
    if opts.recursive_set != 0 || opts.recursive_clr != 0 {
        let attr = sys::MountAttr {
            attr_set: opts.recursive_set,
            attr_clr: opts.recursive_clr,
            ..Default::default()
        };
        step(what, sys::mount_setattr(mount.as_fd(), true, &attr))?;
    }
    if opts.nosymfollow {
        let attr = sys::MountAttr {
            attr_set: 0x200000,
            ..Default::default()
        };
        step(what, sys::mount_setattr(mount.as_fd(), false, &attr))?;
    }
    for p in &opts.propagation {
        step(
            what,
            sys::mount(None, &fd_path(mount.as_fd()), None, *p, None),
        )?;
    }
    Ok(())
}

/// The detached idmapped mount the runtime made for mount `index`
/// ([`idmap`]), inherited by init: ours alone from here.
fn idmapped_mount(ctx: &RootfsContext<'_>, index: usize) -> Res<OwnedFd> {
    let field = || format!("mounts[{index}]");
    let raw = ctx
        .idmapped
        .iter()
        .find(|(i, _)| *i == index)
        .map(|(_, fd)| *fd)
        .ok_or_else(|| ChildError::msg(field(), "the runtime made no idmapped mount for it"))?;
    step(field, sys::own_inherited_fd(raw))
}

/// Copies the tree under `lower` into `upper` (tmpcopyup), keeping modes,
/// owners and symlinks. Paths go through the two descriptors, so nothing
/// outside them is read or written; device nodes and sockets are skipped.
fn copy_up(lower: &OwnedFd, upper: &OwnedFd) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let src = entry.path();
            let dst = to.join(entry.file_name());
            let meta = std::fs::symlink_metadata(&src)?;
            let kind = meta.file_type();
            if kind.is_dir() {
                std::fs::create_dir(&dst)?;
                copy_dir(&src, &dst)?;
            } else if kind.is_file() {
                std::fs::copy(&src, &dst)?;
            } else if kind.is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
                std::os::unix::fs::lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
                continue;
            } else {
                continue;
            }
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
            std::os::unix::fs::lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
        }
        Ok(())
    }
    let from = PathBuf::from(fd_path(lower.as_fd()).to_string_lossy().into_owned());
    let to = PathBuf::from(fd_path(upper.as_fd()).to_string_lossy().into_owned());
    copy_dir(&from, &to)?;
    let meta = std::fs::metadata(&from)?;
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    std::os::unix::fs::chown(&to, Some(meta.uid()), Some(meta.gid()))
}

/// Remounts the bind mount `fd` refers to with `flags`, keeping the flags
/// the kernel locked.
fn remount(fd: &OwnedFd, flags: libc::c_ulong, what: impl Fn() -> String) -> Res {
    let p = fd_path(fd.as_fd());
    let current = step(&what, sys::statvfs_flags(&p))? as libc::c_ulong & LOCKED_FLAGS;
    step(
        what,
        sys::mount(
            None,
            &p,
            None,
            libc::MS_REMOUNT | libc::MS_BIND | flags | current,
            None,
        ),
    )
}

/// A `cgroup` mount on this host: a tmpfs holding one directory per host
/// hierarchy, each the container's own cgroup (through its cgroup namespace,
/// or a bind of its host cgroup directory).
fn mount_cgroup(
    ctx: &RootfsContext<'_>,
    target: OwnedFd,
    // Where the target was found, for messages.
    dest: &Path,
    opts: &mount_options::ParsedOptions,
) -> Res {
    let what = || format!("mount cgroup at {}", dest.display());
    let hierarchies = crate::cgroups::host_hierarchies();
    if hierarchies.len() == 1 && hierarchies[0].is_v2() {
        // Pure v2: one cgroup2 mount (or a bind without a cgroup ns).
        let h = &hierarchies[0];
        return mount_hierarchy(ctx, h, &target, dest, opts.flags);
    }
    let tmpfs = step(
        what,
        detached::new_filesystem("tmpfs", "tmpfs", "mode=755", opts.flags & !libc::MS_RDONLY),
    )?;
    step(what, detached::attach(&tmpfs, target.as_fd()))?;
    for h in &hierarchies {
        // Inside the new tmpfs, by its descriptor.
        let t = step(
            what,
            path::mkdir_all_in_root(tmpfs.as_fd(), Path::new(&h.name), 0o755),
        )?;
        mount_hierarchy(ctx, h, &t, &dest.join(&h.name), opts.flags)?;
    }
    if opts.flags & libc::MS_RDONLY != 0 {
        remount(&tmpfs, opts.flags & !libc::MS_BIND, what)?;
    }
    Ok(())
}

fn mount_hierarchy(
    ctx: &RootfsContext<'_>,
    h: &crate::cgroups::Hierarchy,
    target: &OwnedFd,
    dest: &Path,
    flags: libc::c_ulong,
) -> Res {
    let what = || format!("mount cgroup {} at {}", h.name, dest.display());
    if ctx.own_cgroup_ns {
        let fstype = if h.is_v2() { "cgroup2" } else { "cgroup" };
        if let Ok(mount) = detached::new_filesystem(fstype, fstype, &h.options, flags) {
            return step(what, detached::attach(&mount, target.as_fd()));
        }
    }
    // Bind the container's own cgroup directory of this hierarchy.
    let own = crate::cgroups::own_cgroup_dir(h).unwrap_or_else(|| h.mount_point.clone());
    let src = step(what, cstr(&own))?;
    let mount = step(what, detached::bind_of_path(&src, true))?;
    step(what, detached::attach(&mount, target.as_fd()))?;
    remount(&mount, flags & !(libc::MS_BIND | libc::MS_REC), what)
}

/// Switches the root: pivot_root (or MS_MOVE + chroot with no_pivot) and
/// drops the host's root from the mount namespace.
pub fn switch_root(ctx: &RootfsContext<'_>) -> Res {
    let rootfs_c = step(|| "rootfs path".into(), cstr(ctx.rootfs))?;
    let dot = step(|| ".".into(), cstr("."))?;
    let slash = step(|| "/".into(), cstr("/"))?;
    let new_root = step(
        || format!("open {}", ctx.rootfs.display()),
        sys::open(&rootfs_c, libc::O_DIRECTORY | libc::O_RDONLY, 0),
    )?;
    step(|| "chdir to rootfs".into(), sys::fchdir(new_root.as_fd()))?;
    if ctx.no_pivot {
        step(
            || "move rootfs to /".into(),
            sys::mount(Some(&dot), &slash, None, libc::MS_MOVE, None),
        )?;
        step(|| "chroot".into(), sys::chroot(&dot))?;
    } else {
        let old_root = step(
            || "open /".into(),
            sys::open(&slash, libc::O_DIRECTORY | libc::O_RDONLY, 0),
        )?;
        step(|| "pivot_root".into(), sys::pivot_root(&dot, &dot))?;
        // The old root is now stacked on top of the new one at "/"; detach it
        // without letting the unmount propagate anywhere.
        step(|| "fchdir old root".into(), sys::fchdir(old_root.as_fd()))?;
        step(
            || "make old root a slave".into(),
            sys::mount(None, &dot, None, libc::MS_SLAVE | libc::MS_REC, None),
        )?;
        step(
            || "unmount old root".into(),
            sys::umount2(&dot, libc::MNT_DETACH),
        )?;
    }
    step(|| "chdir /".into(), std::env::set_current_dir("/"))?;
    Ok(())
}

/// Without a mount namespace of its own the container shares the runtime's
/// mounts: mounts, masked and read-only paths, devices, sysctls and a
/// read-only root cannot be applied without changing the host. Say so.
pub fn warn_unapplied_without_mount_ns(spec: &Spec) {
    let linux = spec.linux().clone().unwrap_or_default();
    let unapplied = [
        (
            "mounts",
            spec.mounts().as_ref().is_some_and(|m| !m.is_empty()),
        ),
        (
            "linux.maskedPaths",
            linux.masked_paths().as_ref().is_some_and(|m| !m.is_empty()),
        ),
        (
            "linux.readonlyPaths",
            linux
                .readonly_paths()
                .as_ref()
                .is_some_and(|m| !m.is_empty()),
        ),
        (
            "linux.devices",
            linux.devices().as_ref().is_some_and(|d| !d.is_empty()),
        ),
        (
            "linux.sysctl",
            linux.sysctl().as_ref().is_some_and(|s| !s.is_empty()),
        ),
        (
            "root.readonly",
            spec.root()
                .as_ref()
                .and_then(|r| r.readonly())
                .unwrap_or(false),
        ),
    ];
    for (field, set) in unapplied {
        if set {
            tracing::warn!("{field}: not applied: the container has no mount namespace of its own");
        }
    }
}

/// The root switch for a container without a mount namespace: chroot.
pub fn chroot_only(ctx: &RootfsContext<'_>) -> Res {
    let rootfs_c = step(|| "rootfs path".into(), cstr(ctx.rootfs))?;
    step(
        || format!("chroot {}", ctx.rootfs.display()),
        sys::chroot(&rootfs_c),
    )?;
    step(|| "chdir /".into(), std::env::set_current_dir("/"))
}

/// Everything after the switch: propagation of /, masked and read-only
/// paths, sysctls, and the read-only root.
pub fn finish(ctx: &RootfsContext<'_>) -> Res {
    let slash = step(|| "/".into(), cstr("/"))?;
    let linux = ctx.spec.linux().clone().unwrap_or_default();
    if let Some(prop) = linux.rootfs_propagation() {
        if let Some(flag) = mount_options::propagation_flag(prop) {
            step(
                || format!("linux.rootfsPropagation {prop}"),
                sys::mount(None, &slash, None, flag, None),
            )?;
        }
    }
    let root = step(
        || "open /".into(),
        sys::open(&slash, libc::O_PATH | libc::O_DIRECTORY, 0),
    )?;
    // sysctls first: /proc/sys is usually among the read-only paths.
    if let Some(sysctl) = linux.sysctl() {
        for (key, value) in sysctl {
            write_sysctl(root.as_fd(), key, value)?;
        }
    }
    for p in linux.readonly_paths().iter().flatten() {
        readonly_path(root.as_fd(), Path::new(p))?;
    }
    for p in linux.masked_paths().iter().flatten() {
        mask_path(root.as_fd(), Path::new(p))?;
    }
    let readonly = ctx
        .spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false);
    if readonly {
        let current = step(|| "statvfs /".into(), sys::statvfs_flags(&slash))? as libc::c_ulong
            & LOCKED_FLAGS;
        step(
            || "remount / read-only".into(),
            sys::mount(
                None,
                &slash,
                None,
                libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | current,
                None,
            ),
        )?;
    }
    Ok(())
}

fn readonly_path(root: BorrowedFd<'_>, p: &Path) -> Res {
    let what = || format!("linux.readonlyPaths {}", p.display());
    let fd = match open_in_root(root, p, libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return step(what, Err(e)),
    };
    let mount = step(what, detached::bind_of_fd(fd.as_fd(), true))?;
    step(what, detached::attach(&mount, fd.as_fd()))?;
    remount(
        &mount,
        libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        what,
    )
}

fn mask_path(root: BorrowedFd<'_>, p: &Path) -> Res {
    let what = || format!("linux.maskedPaths {}", p.display());
    let fd = match open_in_root(root, p, libc::O_PATH | libc::O_NOFOLLOW) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return step(what, Err(e)),
    };
    let st = step(what, sys::fstat(fd.as_fd()))?;
    let target = fd_path(fd.as_fd());
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        let tmpfs = step(what, cstr("tmpfs"))?;
        step(
            what,
            sys::mount(Some(&tmpfs), &target, Some(&tmpfs), libc::MS_RDONLY, None),
        )
    } else {
        let null = devices::open_verified_null(root).map_err(|e| ChildError::io(what(), &e))?;
        step(
            what,
            sys::mount(
                Some(&fd_path(null.as_fd())),
                &target,
                None,
                libc::MS_BIND,
                None,
            ),
        )
    }
}

fn write_sysctl(root: BorrowedFd<'_>, key: &str, value: &str) -> Res {
    let what = || format!("linux.sysctl.{key}");
    let p = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
    let fd = step(
        what,
        open_in_root(root, &p, libc::O_WRONLY | libc::O_NOFOLLOW),
    )?;
    // Only ever write into the real procfs, never a file swapped in.
    let magic = step(what, sys::fstatfs_magic(fd.as_fd()))?;
    if magic != PROC_SUPER_MAGIC {
        return Err(ChildError::msg(what(), "target is not on procfs"));
    }
    let mut file = std::fs::File::from(fd);
    step(what, std::io::Write::write_all(&mut file, value.as_bytes()))
}

#[cfg(test)]
mod detached_mount_tests {
    use super::*;

    /// Runs `f` on a thread of its own in a private mount namespace (the
    /// thread's mounts go with it), as root; skips otherwise.
    fn in_private_mount_ns(f: impl FnOnce(&Path) + Send + 'static) {
        if sys::effective_ids().0 != 0 {
            eprintln!("skipped: needs root to mount");
            return;
        }
        // One directory per call: tests run in parallel in this process,
        // and each removes its directory when it ends.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("berth-detached-{}-{call}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.clone();
        let result = std::thread::spawn(move || {
            sys::unshare(libc::CLONE_NEWNS).unwrap();
            sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None).unwrap();
            f(&d);
        })
        .join();
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
    }

    /// Whether the mount at `path` has the ST_* `flag`.
    fn has_flag(path: &Path, flag: u64) -> bool {
        sys::statvfs_flags(&cstr(path).unwrap()).unwrap() & flag != 0
    }

    #[test]
    fn flags_reach_the_new_mount_and_kernel_messages_the_error() {
        in_private_mount_ns(|dir| {
            let target_path = dir.join("t");
            std::fs::create_dir_all(&target_path).unwrap();
            let target = sys::open(&cstr(&target_path).unwrap(), libc::O_PATH, 0).unwrap();
            let flags = libc::MS_RDONLY | libc::MS_NOSUID;
            let mount = detached::new_filesystem("tmpfs", "tmpfs", "mode=700", flags).unwrap();
            detached::attach(&mount, target.as_fd()).unwrap();
            assert!(has_flag(&target_path, libc::ST_RDONLY));
            assert!(has_flag(&target_path, libc::ST_NOSUID));
            let mode = std::fs::metadata(&target_path).unwrap();
            assert_eq!(
                std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o7777,
                0o700
            );
            let err = detached::new_filesystem("tmpfs", "tmpfs", "size=lots", 0).unwrap_err();
            assert!(err.to_string().contains("size"), "{err}");
        });
    }

    /// After the mount, its path is pointed elsewhere (a symlink, then a
    /// fresh directory): the remount still lands on the new mount, and the
    /// directory swapped in stays as it was.
    #[test]
    fn a_path_changed_after_the_mount_does_not_redirect_the_remount() {
        in_private_mount_ns(|dir| {
            let root_path = dir.join("root");
            for d in ["p/a", "elsewhere/a"] {
                std::fs::create_dir_all(root_path.join(d)).unwrap();
            }
            let root = sys::open(&cstr(&root_path).unwrap(), libc::O_PATH, 0).unwrap();
            let target = path::open_in_root(root.as_fd(), Path::new("/p/a"), libc::O_PATH).unwrap();
            let mount = detached::new_filesystem("tmpfs", "tmpfs", "", 0).unwrap();
            detached::attach(&mount, target.as_fd()).unwrap();
            std::fs::rename(root_path.join("p"), root_path.join("p-old")).unwrap();
            std::os::unix::fs::symlink("elsewhere", root_path.join("p")).unwrap();
            remount(&mount, libc::MS_RDONLY, || "remount".into()).unwrap();
            assert!(has_flag(&root_path.join("p-old/a"), libc::ST_RDONLY));
            assert!(!has_flag(&root_path.join("elsewhere/a"), libc::ST_RDONLY));
            std::fs::remove_file(root_path.join("p")).unwrap();
            std::fs::create_dir_all(root_path.join("p/a")).unwrap();
            let attr = sys::MountAttr {
                attr_set: 0x8,
                ..Default::default()
            };
            sys::mount_setattr(mount.as_fd(), false, &attr).unwrap();
            assert!(has_flag(&root_path.join("p-old/a"), libc::ST_NOEXEC));
            assert!(!has_flag(&root_path.join("p/a"), libc::ST_NOEXEC));
        });
    }
}
