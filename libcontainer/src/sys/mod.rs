//! The only module of berth with `unsafe` code: thin, safe wrappers around the
//! system calls that neither `std` nor `nix` cover the way the runtime needs
//! them (clone with CLONE_PARENT, openat2, close_range, pivot_root, fd passing …).
//!
//! Every wrapper returns `std::io::Result` with the raw errno preserved so the
//! layers above can name the failing step and the kernel's reason.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

mod mount_api;
pub use mount_api::*;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn check_long(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Result of [`clone_process`] as seen by the caller.
pub enum CloneResult {
    /// We are the parent; the child has this pid.
    Parent(libc::pid_t),
    /// We are the new child process.
    Child,
}

/// Fork-like clone: the child continues on a copy of the caller's stack.
/// `flags` may hold `CLONE_PARENT` and `CLONE_NEW*` flags; SIGCHLD is always
/// the exit signal.
///
/// The caller must make sure the process is single-threaded, or that the
/// child only makes async-signal-safe calls until it execs.
pub fn clone_process(flags: libc::c_ulong) -> io::Result<CloneResult> {
    // SAFETY: raw clone without CLONE_VM and with a null stack behaves like
    // fork(2): the child gets a private copy of the address space and resumes
    // here. No Rust invariants are broken by duplicating a single-threaded
    // process; callers uphold the threading contract documented above.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags | libc::SIGCHLD as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match check_long(ret)? {
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent(pid as libc::pid_t)),
    }
}

/// `struct clone_args` of clone3(2), up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// clone3's flag to start the child in the cgroup v2 directory `cgroup`
/// (Linux 5.7+); not in every libc version.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Like [`clone_process`], but the child is born in the cgroup v2
/// directory `cgroup` (an fd of it): clone3 with CLONE_INTO_CGROUP, so the
/// child never runs in the caller's cgroup. Fails (ENOSYS, E2BIG, EINVAL,
/// EOPNOTSUPP, EBUSY, EACCES …) where the kernel, a seccomp filter or the
/// cgroup do not allow it; the caller falls back to [`clone_process`].
///
/// With CLONE_PARENT the exit signal must be 0 (the kernel takes the
/// parent's); otherwise it is SIGCHLD. Same threading contract as
/// [`clone_process`].
pub fn clone_into_cgroup(flags: u64, cgroup: BorrowedFd<'_>) -> io::Result<CloneResult> {
    let exit_signal = if flags & libc::CLONE_PARENT as u64 != 0 {
        0
    } else {
        libc::SIGCHLD as u64
    };
    let args = CloneArgs {
        flags: flags | CLONE_INTO_CGROUP,
        exit_signal,
        cgroup: cgroup.as_raw_fd() as u64,
        ..Default::default()
    };
    // SAFETY: `args` is a valid, initialised clone_args of the size passed,
    // alive for the call. Without CLONE_VM and with no stack the child gets
    // a private copy of the address space and resumes here, as with fork;
    // the caller upholds the threading contract of `clone_process`.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match check_long(ret)? {
        0 => Ok(CloneResult::Child),
        pid => Ok(CloneResult::Parent(pid as libc::pid_t)),
    }
}

/// Whether the caller's effective credentials may access `name` in `dir`
/// with `mode` (`libc::W_OK` …): faccessat(2) with AT_EACCESS.
pub fn access_effective(dir: BorrowedFd<'_>, name: &CStr, mode: libc::c_int) -> io::Result<()> {
    // SAFETY: name is NUL-terminated and dir a valid descriptor for the call.
    check(unsafe { libc::faccessat(dir.as_raw_fd(), name.as_ptr(), mode, libc::AT_EACCESS) })
        .map(drop)
}

/// Ends the calling process at once, without running destructors or atexit
/// handlers (which belong to the parent's copy of the program).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and has no preconditions.
    unsafe { libc::_exit(code) }
}

/// unshare(2) with the given CLONE_NEW* flags.
pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare takes flags only.
    check(unsafe { libc::unshare(flags) }).map(drop)
}

/// setns(2) into the namespace `fd` refers to.
pub fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: fd is a valid open descriptor for the duration of the call.
    check(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
}

/// Marks every descriptor from `first` upwards close-on-exec, so only the
/// standard streams and the ones below `first` survive execve.
pub fn close_range_cloexec(first: u32) -> io::Result<()> {
    // SAFETY: close_range only changes descriptor flags; no memory is touched.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    check_long(ret).map(drop)
}

/// Clears FD_CLOEXEC on `fd` so it survives execve (preserved fds).
pub fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on an integer fd; an invalid fd yields EBADF.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) }).map(drop)
}

/// Flags for [`openat2`]'s `resolve` field.
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
/// Resolve as if the directory fd were the root (no escape through `..` or
/// absolute symlinks).
pub const RESOLVE_IN_ROOT: u64 = 0x10;

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// openat2(2): opens `path` relative to `dir` with the given resolve rules.
pub fn openat2(
    dir: BorrowedFd<'_>,
    path: &CStr,
    flags: libc::c_int,
    mode: u32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    loop {
        // SAFETY: `how` lives across the call and its size is passed; the
        // path is NUL-terminated.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        match check_long(ret) {
            // SAFETY: the kernel returned a fresh descriptor we now own.
            Ok(fd) => return Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) }),
            // openat2 returns EAGAIN when a concurrent rename raced the lookup.
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// openat(2) relative to `dir` (no resolve restrictions); always O_CLOEXEC.
pub fn openat(
    dir: BorrowedFd<'_>,
    path: &CStr,
    flags: libc::c_int,
    mode: u32,
) -> io::Result<OwnedFd> {
    // SAFETY: path is NUL-terminated; dir is a valid fd.
    let fd = check(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            path.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: fresh descriptor returned by the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// open(2) of an absolute or cwd-relative path; always O_CLOEXEC.
pub fn open(path: &CStr, flags: libc::c_int, mode: u32) -> io::Result<OwnedFd> {
    // SAFETY: path is NUL-terminated.
    let fd = check(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode) })?;
    // SAFETY: fresh descriptor returned by the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// mkdirat(2).
pub fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: name is NUL-terminated; dir is valid.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) }).map(drop)
}

/// mknodat(2).
pub fn mknodat(dir: BorrowedFd<'_>, name: &CStr, mode: u32, dev: u64) -> io::Result<()> {
    // SAFETY: name is NUL-terminated; dir is valid.
    check(unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), mode, dev) }).map(drop)
}

/// unlinkat(2).
pub fn unlinkat(dir: BorrowedFd<'_>, name: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: name is NUL-terminated; dir is valid.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

/// symlinkat(2): creates `name` in `dir` pointing at `target`.
pub fn symlinkat(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: both strings are NUL-terminated; dir is valid.
    check(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// fstat(2).
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: st points to writable memory of the right size.
    check(unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded, so st is initialised.
    Ok(unsafe { st.assume_init() })
}

/// fstatfs(2): the filesystem magic of what `fd` refers to.
pub fn fstatfs_magic(fd: BorrowedFd<'_>) -> io::Result<i64> {
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: st points to writable memory of the right size.
    check(unsafe { libc::fstatfs(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstatfs succeeded.
    Ok(unsafe { st.assume_init() }.f_type)
}

/// The mount flags (ST_* as MS_*) of the filesystem at `path`.
pub fn statvfs_flags(path: &CStr) -> io::Result<u64> {
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: st points to writable memory; path is NUL-terminated.
    check(unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) })?;
    // SAFETY: statvfs succeeded.
    Ok(unsafe { st.assume_init() }.f_flag)
}

/// mount(2). `None` arguments are passed as NULL.
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every pointer is NULL or a NUL-terminated string that outlives
    // the call.
    check(unsafe {
        libc::mount(
            ptr(source),
            target.as_ptr(),
            ptr(fstype),
            flags,
            ptr(data).cast(),
        )
    })
    .map(drop)
}

/// umount2(2).
pub fn umount2(target: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: target is NUL-terminated.
    check(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
}

/// pivot_root(2).
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    // SAFETY: both paths are NUL-terminated.
    check_long(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
        .map(drop)
}

/// chroot(2).
pub fn chroot(path: &CStr) -> io::Result<()> {
    // SAFETY: path is NUL-terminated.
    check(unsafe { libc::chroot(path.as_ptr()) }).map(drop)
}

/// fchdir(2).
pub fn fchdir(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: fd is valid.
    check(unsafe { libc::fchdir(fd.as_raw_fd()) }).map(drop)
}

/// sethostname(2).
pub fn sethostname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length describe a valid byte buffer.
    check(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// setdomainname(2).
pub fn setdomainname(name: &str) -> io::Result<()> {
    // SAFETY: pointer and length describe a valid byte buffer.
    check(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// setresuid(2) for all three ids.
pub fn setresuid(uid: u32) -> io::Result<()> {
    // SAFETY: raw syscall so the change applies to this thread/process only
    // without glibc's cross-thread broadcast (we are single-threaded here).
    check_long(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(drop)
}

/// setresgid(2) for all three ids.
pub fn setresgid(gid: u32) -> io::Result<()> {
    // SAFETY: see setresuid.
    check_long(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }).map(drop)
}

/// setgroups(2).
pub fn setgroups(gids: &[u32]) -> io::Result<()> {
    // SAFETY: pointer and length describe the slice.
    check_long(unsafe { libc::syscall(libc::SYS_setgroups, gids.len(), gids.as_ptr()) }).map(drop)
}

/// setrlimit(2) via prlimit on ourselves.
pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: lim is a valid rlimit64 for the call's duration; pid 0 = self.
    check(unsafe { libc::prlimit64(0, resource as _, &lim, std::ptr::null_mut()) }).map(drop)
}

/// umask(2); returns the previous mask.
pub fn umask(mask: u32) -> u32 {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask) }
}

/// prctl(2) with integer arguments.
fn prctl(option: libc::c_int, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: the options used here take integer arguments only.
    check(unsafe { libc::prctl(option, arg, 0, 0, 0) }).map(drop)
}

/// PR_SET_DUMPABLE: a non-dumpable process's /proc files (exe among them)
/// cannot be opened by less privileged processes.
pub fn set_dumpable(dumpable: bool) -> io::Result<()> {
    prctl(libc::PR_SET_DUMPABLE, dumpable as libc::c_ulong)
}

/// PR_SET_NO_NEW_PRIVS.
pub fn set_no_new_privs() -> io::Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1)
}

/// PR_SET_PDEATHSIG.
pub fn set_parent_death_signal(signal: libc::c_int) -> io::Result<()> {
    prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong)
}

/// Makes the process `command` starts die with SIGKILL when the calling
/// thread ends (PR_SET_PDEATHSIG), so it cannot outlive a runtime that was
/// killed while waiting for it.
pub fn die_with_parent(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the child between fork and exec and only
    // calls prctl(2), which is async-signal-safe and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            let signal = libc::SIGKILL as libc::c_ulong;
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// PR_SET_KEEPCAPS.
pub fn set_keep_caps(keep: bool) -> io::Result<()> {
    prctl(libc::PR_SET_KEEPCAPS, keep as libc::c_ulong)
}

/// setsid(2).
pub fn setsid() -> io::Result<()> {
    // SAFETY: no arguments.
    check(unsafe { libc::setsid() }).map(drop)
}

/// Makes the terminal `fd` our controlling terminal.
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) }).map(drop)
}

/// Sets a terminal's window size.
pub fn set_window_size(fd: BorrowedFd<'_>, rows: u16, cols: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize that lives across the call.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) }).map(drop)
}

/// Unlocks a pty master and returns the number of its slave (/dev/pts/N).
pub fn unlock_pty(master: BorrowedFd<'_>) -> io::Result<u32> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int that lives across the call.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) })?;
    let mut number: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int to the pointer.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut number) })?;
    Ok(number)
}

/// dup2(2) (dup3 without flags when the numbers differ).
pub fn dup2(old: BorrowedFd<'_>, new: RawFd) -> io::Result<()> {
    // SAFETY: dup2 on integer fds; the target is closed atomically if open.
    check(unsafe { libc::dup2(old.as_raw_fd(), new) }).map(drop)
}

/// Builds a NULL-terminated pointer array over C strings.
fn ptr_array(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// execve(2). Only returns on failure.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let argv_ptrs = ptr_array(argv);
    let envp_ptrs = ptr_array(envp);
    // SAFETY: path and both arrays are NUL-terminated and live across the call.
    unsafe { libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr()) };
    io::Error::last_os_error()
}

/// Resets the signal mask to empty and every signal disposition to default,
/// so the container process starts as a fresh process would.
pub fn reset_signals() -> io::Result<()> {
    for sig in 1..libc::SIGRTMAX() {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL is always a valid disposition; invalid numbers in
        // the range (glibc-reserved RT signals) fail harmlessly with EINVAL.
        unsafe { libc::signal(sig, libc::SIG_DFL) };
    }
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set; sigprocmask reads it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        check(libc::sigprocmask(
            libc::SIG_SETMASK,
            set.as_ptr(),
            std::ptr::null_mut(),
        ))?;
    }
    Ok(())
}

/// Sends `fd` over the unix socket `sock` with `payload` as the data.
pub fn send_fd(sock: BorrowedFd<'_>, payload: &[u8], fd: BorrowedFd<'_>) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg_control points at a buffer of CMSG_SPACE(sizeof fd) bytes,
    // so CMSG_FIRSTHDR is non-null and CMSG_DATA has room for one fd.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::copy_nonoverlapping(
            &raw as *const RawFd as *const u8,
            libc::CMSG_DATA(cmsg),
            std::mem::size_of::<RawFd>(),
        );
    }
    // SAFETY: msg and everything it points to live across the call.
    check_long(unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) } as _).map(drop)
}

/// Receives one message with at most one fd from `sock`.
pub fn recv_fd(sock: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, Option<OwnedFd>)> {
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; zeroed is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: msg points at live buffers of the stated sizes.
    let n = check_long(
        unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) } as _,
    )? as usize;
    let mut fd = None;
    // SAFETY: the kernel filled msg_control; CMSG_* walk it within bounds.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        if !cmsg.is_null()
            && (*cmsg).cmsg_level == libc::SOL_SOCKET
            && (*cmsg).cmsg_type == libc::SCM_RIGHTS
        {
            let mut raw: RawFd = -1;
            std::ptr::copy_nonoverlapping(
                libc::CMSG_DATA(cmsg),
                &mut raw as *mut RawFd as *mut u8,
                std::mem::size_of::<RawFd>(),
            );
            fd = Some(OwnedFd::from_raw_fd(raw));
        }
    }
    Ok((n, fd))
}

/// Creates a FIFO at `path`.
pub fn mkfifo(path: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: path is NUL-terminated.
    check(unsafe { libc::mkfifo(path.as_ptr(), mode) }).map(drop)
}

/// Renames `from` to `to`, failing with EEXIST instead of replacing an
/// existing `to` (renameat2 with RENAME_NOREPLACE).
pub fn rename_noreplace(from: &CStr, to: &CStr) -> io::Result<()> {
    // SAFETY: both paths are NUL-terminated; AT_FDCWD resolves them as open(2) would.
    check(unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    })
    .map(drop)
}

/// The number of threads of the calling process, from the kernel's own count.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(usize::MAX)
}

/// ptsname of the slave is built from the number; this opens it.
pub fn open_pty_slave(number: u32) -> io::Result<OwnedFd> {
    let path = CString::new(format!("/dev/pts/{number}"))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    open(&path, libc::O_RDWR | libc::O_NOCTTY, 0)
}

/// Sends a signal to a process.
pub fn kill(pid: libc::pid_t, signal: libc::c_int) -> io::Result<()> {
    // SAFETY: kill takes integers only.
    check(unsafe { libc::kill(pid, signal) }).map(drop)
}

/// waitpid(2): returns (pid, raw status) or (0, 0) with WNOHANG and no change.
pub fn waitpid(pid: libc::pid_t, flags: libc::c_int) -> io::Result<(libc::pid_t, libc::c_int)> {
    let mut status = 0;
    loop {
        // SAFETY: status is a valid int pointer.
        let ret = unsafe { libc::waitpid(pid, &mut status, flags) };
        if ret < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        return Ok((ret, status));
    }
}

/// A signalfd for the given signals; the signals must be blocked first.
pub fn signalfd(signals: &[libc::c_int]) -> io::Result<OwnedFd> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set before sigaddset/signalfd use it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for &s in signals {
            libc::sigaddset(set.as_mut_ptr(), s);
        }
        // Non-blocking: in a program with threads another thread may take
        // a process-wide signal between our poll and our read.
        let fd = check(libc::signalfd(
            -1,
            set.as_ptr(),
            libc::SFD_CLOEXEC | libc::SFD_NONBLOCK,
        ))?;
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// Blocks the given signals for the calling thread; returns the old mask as
/// an opaque value for [`restore_sigmask`].
pub fn block_signals(signals: &[libc::c_int]) -> io::Result<SigMask> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: the sets are initialised by sigemptyset / by the kernel.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        for &s in signals {
            libc::sigaddset(set.as_mut_ptr(), s);
        }
        let ret = libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), old.as_mut_ptr());
        if ret != 0 {
            return Err(io::Error::from_raw_os_error(ret));
        }
        Ok(SigMask(old.assume_init()))
    }
}

/// A saved signal mask.
pub struct SigMask(libc::sigset_t);

/// Restores a mask saved by [`block_signals`].
pub fn restore_sigmask(mask: &SigMask) {
    // SAFETY: mask.0 is a valid, initialised sigset.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &mask.0, std::ptr::null_mut()) };
}

/// Reads one signal number from a (non-blocking) signalfd; `None` when no
/// signal is pending after all.
pub fn read_signalfd(fd: BorrowedFd<'_>) -> io::Result<Option<libc::c_int>> {
    // SAFETY: signalfd_siginfo is plain data.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    loop {
        // SAFETY: info is a writable buffer of `size` bytes.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                size,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Ok(None),
                _ => return Err(err),
            }
        }
        return Ok(Some(info.ssi_signo as libc::c_int));
    }
}

/// Borrows a raw fd number the caller knows is open (e.g. 0, 1, 2).
pub fn borrow_raw(fd: RawFd) -> BorrowedFd<'static> {
    // SAFETY: callers only pass the standard streams or fds they keep open
    // for the rest of the process lifetime.
    unsafe { BorrowedFd::borrow_raw(fd) }
}

/// Takes ownership of an inherited fd number (e.g. passed to a helper).
///
/// Returns an error if the number is not an open descriptor.
pub fn own_inherited_fd(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl on an integer checks that the descriptor is open.
    check(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: the fd is open and was handed to this process to own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): a new session keyring.
pub fn join_session_keyring(name: &str) -> io::Result<()> {
    let name = CString::new(format!("_ses.{name}"))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: the name is NUL-terminated and lives across the call.
    check_long(unsafe {
        libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr())
    })
    .map(drop)
}

/// Duplicates `fd` to the lowest free number >= `min`, close-on-exec.
pub fn dup_above(fd: BorrowedFd<'_>, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd returns a new descriptor we own.
    let new = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// Waits up to `timeout_ms` for `fd` to become readable (or hung up).
pub fn poll_readable(fd: &impl AsRawFd, timeout_ms: i32) {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: pfd is a valid pollfd array of length 1.
    unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
}

/// Closes every descriptor from 3 up except those in `keep`.
pub fn close_fds_except(keep: &[RawFd]) -> io::Result<()> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter(|&&fd| fd >= 3)
        .map(|&fd| fd as u32)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut first = 3u32;
    for fd in keep.into_iter().chain(std::iter::once(u32::MAX)) {
        if fd > first {
            // SAFETY: close_range only closes descriptors; none of them is
            // owned by live Rust objects the caller still uses (the caller
            // lists those in `keep`).
            check_long(unsafe { libc::syscall(libc::SYS_close_range, first, fd - 1, 0) })?;
        }
        first = fd.saturating_add(1);
    }
    Ok(())
}

/// Loads a classic BPF seccomp program (`bpf` is an array of sock_filter)
/// with seccomp(SECCOMP_SET_MODE_FILTER). Returns the notification fd when
/// `flags` asks for a listener.
pub fn seccomp_load(bpf: &[u8], flags: u32) -> io::Result<Option<OwnedFd>> {
    const INSN: usize = std::mem::size_of::<libc::sock_filter>();
    if bpf.is_empty() || !bpf.len().is_multiple_of(INSN) || bpf.len() / INSN > u16::MAX as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "malformed seccomp program",
        ));
    }
    // Copy into properly aligned sock_filter structs.
    let insns: Vec<libc::sock_filter> = bpf
        .chunks_exact(INSN)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    let prog = libc::sock_fprog {
        len: insns.len() as u16,
        filter: insns.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog points at `len` valid instructions that outlive the call.
    let ret = check_long(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    })?;
    if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER as u32 != 0 {
        // SAFETY: with NEW_LISTENER the kernel returns a fresh fd we own.
        Ok(Some(unsafe { OwnedFd::from_raw_fd(ret as RawFd) }))
    } else {
        Ok(None)
    }
}

/// An anonymous in-memory file (memfd_create), close-on-exec.
pub fn memfd(name: &str) -> io::Result<std::fs::File> {
    let name = CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: name is NUL-terminated; the kernel returns a fresh fd we own.
    let fd = check(unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) })?;
    // SAFETY: fresh descriptor.
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// personality(2).
pub fn personality(persona: libc::c_ulong) -> io::Result<()> {
    // SAFETY: personality takes an integer.
    check(unsafe { libc::personality(persona) }).map(drop)
}

/// ioprio_set(IOPRIO_WHO_PROCESS, self, (class << 13) | level).
pub fn ioprio_set(class: u32, level: u32) -> io::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    let prio = (class << 13) | (level & 0x1fff);
    // SAFETY: integer arguments only.
    check_long(unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, prio) })
        .map(drop)
}

/// The kernel's struct sched_attr (with the utilisation clamps).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct SchedAttr {
    /// Size of this struct.
    pub size: u32,
    /// SCHED_* policy.
    pub policy: u32,
    /// SCHED_FLAG_* flags.
    pub flags: u64,
    /// Nice value (SCHED_OTHER, SCHED_BATCH).
    pub nice: i32,
    /// Static priority (SCHED_FIFO, SCHED_RR).
    pub priority: u32,
    /// SCHED_DEADLINE runtime in ns.
    pub runtime: u64,
    /// SCHED_DEADLINE deadline in ns.
    pub deadline: u64,
    /// SCHED_DEADLINE period in ns.
    pub period: u64,
    /// Utilisation clamp minimum.
    pub util_min: u32,
    /// Utilisation clamp maximum.
    pub util_max: u32,
}

/// sched_setattr(2) for the calling thread.
pub fn sched_setattr(attr: &SchedAttr) -> io::Result<()> {
    let mut a = *attr;
    a.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `a` is a valid sched_attr of the size it declares.
    check_long(unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &a as *const SchedAttr, 0) })
        .map(drop)
}

/// set_mempolicy(2) with a node bitmask.
pub fn set_mempolicy(mode: i32, nodemask: &[libc::c_ulong]) -> io::Result<()> {
    let maxnode = (nodemask.len() * libc::c_ulong::BITS as usize) as libc::c_ulong;
    let ptr = if nodemask.is_empty() {
        std::ptr::null()
    } else {
        nodemask.as_ptr()
    };
    // SAFETY: the mask pointer covers `maxnode` bits or is NULL with maxnode 0.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_set_mempolicy,
            mode,
            ptr,
            if nodemask.is_empty() { 0 } else { maxnode + 1 },
        )
    })
    .map(drop)
}

/// The kernel's struct mount_attr for mount_setattr(2).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct MountAttr {
    /// MOUNT_ATTR_* to set.
    pub attr_set: u64,
    /// MOUNT_ATTR_* to clear.
    pub attr_clr: u64,
    /// Propagation (MS_SHARED …) or 0.
    pub propagation: u64,
    /// A user namespace fd for MOUNT_ATTR_IDMAP.
    pub userns_fd: u64,
}

/// mount_setattr(2) on the mount `fd` refers to (AT_EMPTY_PATH), recursively
/// when `recursive`.
pub fn mount_setattr(fd: BorrowedFd<'_>, recursive: bool, attr: &MountAttr) -> io::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    let empty = c"";
    // SAFETY: attr is a valid mount_attr of the size passed; the path is an
    // empty NUL-terminated string.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            empty.as_ptr(),
            flags,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// The effective uid and gid of the caller.
pub fn effective_ids() -> (u32, u32) {
    // SAFETY: geteuid and getegid cannot fail.
    unsafe { (libc::geteuid(), libc::getegid()) }
}

/// eventfd(2) with a zero counter, close-on-exec and non-blocking (for the
/// cgroup v1 memory notifications).
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes integers and returns a new descriptor or -1.
    let fd = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: fd is a fresh descriptor nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether `fd` is a terminal.
pub fn isatty(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: isatty takes an integer fd.
    unsafe { libc::isatty(fd.as_raw_fd()) == 1 }
}

/// A saved terminal mode.
pub struct TermMode(libc::termios);

/// Puts the terminal `fd` in raw mode; returns the previous mode.
pub fn make_raw(fd: BorrowedFd<'_>) -> io::Result<TermMode> {
    let mut t = std::mem::MaybeUninit::<libc::termios>::uninit();
    // SAFETY: tcgetattr fills the termios we point to.
    check(unsafe { libc::tcgetattr(fd.as_raw_fd(), t.as_mut_ptr()) })?;
    // SAFETY: tcgetattr succeeded.
    let saved = unsafe { t.assume_init() };
    let mut raw = saved;
    // SAFETY: cfmakeraw edits the struct in place.
    unsafe { libc::cfmakeraw(&mut raw) };
    // SAFETY: raw is a valid termios.
    check(unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &raw) })?;
    Ok(TermMode(saved))
}

/// Restores a mode saved by [`make_raw`].
pub fn restore_mode(fd: BorrowedFd<'_>, mode: &TermMode) {
    // SAFETY: mode.0 is a termios read from this terminal.
    unsafe { libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &mode.0) };
}

/// The window size (rows, cols) of a terminal.
pub fn window_size(fd: BorrowedFd<'_>) -> io::Result<(u16, u16)> {
    // SAFETY: winsize is plain data.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize to the pointer.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) })?;
    Ok((ws.ws_row, ws.ws_col))
}

/// poll(2) over `fds` (fd, events); returns the revents of each.
pub fn poll(fds: &[(BorrowedFd<'_>, i16)], timeout_ms: i32) -> io::Result<Vec<i16>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|(fd, events)| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: *events,
            revents: 0,
        })
        .collect();
    loop {
        // SAFETY: pfds is a valid array of pollfd of the given length.
        let ret = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
        if ret < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(err);
        }
        return Ok(pfds.iter().map(|p| p.revents).collect());
    }
}

/// The process's peak resident set in KiB (VmHWM), for --debug phase logs.
pub fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// bpf(2): loading and attaching the cgroup v2 device filter.
// ---------------------------------------------------------------------------

/// bpf(2) command numbers (include/uapi/linux/bpf.h).
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_int = 15;
const BPF_PROG_QUERY: libc::c_int = 16;

/// A zeroed `union bpf_attr`, larger than any kernel's: the kernel accepts a
/// bigger attr when the bytes it does not know are zero, and some commands
/// write results back at offsets past the fields a caller fills in (the
/// query's revision), which must land inside this buffer.
#[repr(C, align(8))]
struct BpfAttr([u8; 256]);

impl BpfAttr {
    fn new() -> BpfAttr {
        BpfAttr([0; 256])
    }
    fn set_u32(&mut self, off: usize, v: u32) {
        self.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }
    fn set_u64(&mut self, off: usize, v: u64) {
        self.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    }
    fn get_u32(&self, off: usize) -> u32 {
        let mut b = [0u8; 4];
        b.copy_from_slice(&self.0[off..off + 4]);
        u32::from_ne_bytes(b)
    }
}

fn bpf(cmd: libc::c_int, attr: &mut BpfAttr) -> io::Result<libc::c_long> {
    // SAFETY: attr is a live, writable 256-byte buffer whose size is passed
    // along; every pointer a caller stored in it refers to memory borrowed
    // for the duration of this call, with the length stored beside it.
    check_long(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.0.as_mut_ptr(),
            std::mem::size_of::<BpfAttr>(),
        )
    })
}

fn bpf_fd(cmd: libc::c_int, attr: &mut BpfAttr) -> io::Result<OwnedFd> {
    let fd = bpf(cmd, attr)?;
    // SAFETY: on success these commands return a new descriptor we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// BPF_PROG_LOAD: loads `insns` (encoded `struct bpf_insn`s) as a program of
/// `prog_type`. With a non-empty `log`, the verifier writes its log there
/// (NUL-terminated), which is how a refused program is explained.
pub fn bpf_prog_load(
    prog_type: u32,
    expected_attach_type: u32,
    insns: &[[u8; 8]],
    license: &CStr,
    name: &str,
    log: &mut [u8],
) -> io::Result<OwnedFd> {
    let mut attr = BpfAttr::new();
    attr.set_u32(0, prog_type);
    attr.set_u32(4, insns.len() as u32);
    attr.set_u64(8, insns.as_ptr() as u64);
    attr.set_u64(16, license.as_ptr() as u64);
    if !log.is_empty() {
        attr.set_u32(24, 1); // log_level
        attr.set_u32(28, log.len().min(u32::MAX as usize) as u32);
        attr.set_u64(32, log.as_mut_ptr() as u64);
    }
    // prog_name: at most 15 bytes and a NUL.
    let n = name.len().min(15);
    attr.0[48..48 + n].copy_from_slice(&name.as_bytes()[..n]);
    attr.set_u32(68, expected_attach_type);
    bpf_fd(BPF_PROG_LOAD, &mut attr)
}

/// BPF_PROG_ATTACH of `prog` to `target` (a cgroup directory) with `flags`
/// (BPF_F_ALLOW_MULTI, BPF_F_REPLACE with `replace` the program replaced).
pub fn bpf_prog_attach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
    flags: u32,
    replace: Option<BorrowedFd<'_>>,
) -> io::Result<()> {
    let mut attr = BpfAttr::new();
    attr.set_u32(0, target.as_raw_fd() as u32);
    attr.set_u32(4, prog.as_raw_fd() as u32);
    attr.set_u32(8, attach_type);
    attr.set_u32(12, flags);
    if let Some(old) = replace {
        attr.set_u32(16, old.as_raw_fd() as u32);
    }
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// BPF_PROG_DETACH of `prog` from `target`.
pub fn bpf_prog_detach(
    target: BorrowedFd<'_>,
    prog: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<()> {
    let mut attr = BpfAttr::new();
    attr.set_u32(0, target.as_raw_fd() as u32);
    attr.set_u32(4, prog.as_raw_fd() as u32);
    attr.set_u32(8, attach_type);
    bpf(BPF_PROG_DETACH, &mut attr).map(drop)
}

/// BPF_PROG_QUERY: the ids of the programs attached to `target` itself
/// (not inherited ones) for `attach_type`.
pub fn bpf_prog_query(target: BorrowedFd<'_>, attach_type: u32) -> io::Result<Vec<u32>> {
    // A cgroup holds at most 64 programs per attach type.
    let mut ids = vec![0u32; 64];
    let mut attr = BpfAttr::new();
    attr.set_u32(0, target.as_raw_fd() as u32);
    attr.set_u32(4, attach_type);
    attr.set_u64(16, ids.as_mut_ptr() as u64);
    attr.set_u32(24, ids.len() as u32);
    bpf(BPF_PROG_QUERY, &mut attr)?;
    let count = (attr.get_u32(24) as usize).min(ids.len());
    ids.truncate(count);
    Ok(ids)
}

/// BPF_PROG_GET_FD_BY_ID: a descriptor of the loaded program `id`.
pub fn bpf_prog_get_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = BpfAttr::new();
    attr.set_u32(0, id);
    bpf_fd(BPF_PROG_GET_FD_BY_ID, &mut attr)
}

/// The name a program was loaded with (BPF_OBJ_GET_INFO_BY_FD).
pub fn bpf_prog_name(prog: BorrowedFd<'_>) -> io::Result<String> {
    // struct bpf_prog_info: name[16] at offset 64; the rest stays zero so
    // the kernel copies nothing else out.
    let mut info = [0u8; 256];
    let mut attr = BpfAttr::new();
    attr.set_u32(0, prog.as_raw_fd() as u32);
    attr.set_u32(4, info.len() as u32);
    attr.set_u64(8, info.as_mut_ptr() as u64);
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let name = &info[64..80];
    let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
    Ok(String::from_utf8_lossy(&name[..end]).into_owned())
}

/// Sends `signal` to every process of the process group `pgid`.
pub fn kill_group(pgid: libc::pid_t, signal: libc::c_int) {
    // SAFETY: kill takes integers; a negative pid addresses the group.
    unsafe { libc::kill(-pgid, signal) };
}

/// pidfd_open(2): a descriptor that refers to process `pid` (close-on-exec,
/// as the kernel always makes it).
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: integer arguments only; the result is a new fd we own.
    let fd = check_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel returned a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// The largest CPU number a `cpu_set_t` holds, plus one.
pub const CPU_SETSIZE: usize = libc::CPU_SETSIZE as usize;

/// sched_setaffinity(2) of the calling thread to exactly `cpus` (each
/// below [`CPU_SETSIZE`]; larger numbers are left out).
pub fn sched_setaffinity_self(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &cpu in cpus.iter().filter(|&&c| c < CPU_SETSIZE) {
        // SAFETY: cpu is below CPU_SETSIZE, the bit count of the set.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    check(unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) })
        .map(drop)
}

/// A NETLINK_ROUTE socket (close-on-exec) bound in the caller's network
/// namespace, talking to the kernel.
pub fn route_netlink_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = check(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    })?;
    // SAFETY: fd was just returned by socket(2) and is owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: addr is a valid sockaddr_nl and its size is passed with it.
    check(unsafe {
        libc::bind(
            sock.as_raw_fd(),
            std::ptr::addr_of!(addr).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    })?;
    Ok(sock)
}
