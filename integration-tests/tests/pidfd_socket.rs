//! `--pidfd-socket` on create, run and exec (runc 1.2's flag): the caller's
//! unix socket receives a pidfd of the container process, checked here
//! through /proc/self/fdinfo and used to signal that process.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::Duration;

use integration_tests::{
    pid_alive, read_lossy, receive_fd, require_root, wait_pid_gone, Bundle, Env,
};

const T: Duration = Duration::from_secs(10);

/// A listening socket in the test's directory.
fn listener(env: &Env, name: &str) -> (UnixListener, PathBuf) {
    let path = env.dir().join(name);
    (UnixListener::bind(&path).expect("bind pidfd socket"), path)
}

/// The fd numbers `pid` holds (seen from the host) once it has executed
/// its program (berth's own close-on-exec fds are gone by then).
fn fds_of(pid: i64) -> Vec<i32> {
    let read = || {
        let mut v: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    let deadline = std::time::Instant::now() + T;
    while !read_lossy(std::path::Path::new(&format!("/proc/{pid}/comm"))).starts_with("sleep")
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    read()
}

/// The "Pid:" of a pidfd in our fdinfo (None if the fd is no pidfd).
fn pidfd_pid(fd: &OwnedFd) -> Option<i64> {
    let info = read_lossy(std::path::Path::new(&format!(
        "/proc/self/fdinfo/{}",
        fd.as_raw_fd()
    )));
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|p| p.trim().parse().ok())
}

fn pidfd_send_signal(fd: &OwnedFd, sig: i32) -> std::io::Result<()> {
    // SAFETY: integer arguments and a NULL siginfo.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn sleeper(env: &Env) -> Bundle {
    let mut b = Bundle::new(env);
    b.set_args(&["sleep", "60"]);
    b
}

#[test]
fn create_sends_a_pidfd_of_init() {
    require_root!();
    let env = Env::new("pidfdcreate");
    let (l, sock) = listener(&env, "create.sock");
    let mut b = sleeper(&env);
    let id = env.new_id();
    env.prepare(&mut b, &id);
    let (bp, sp) = (b.path().display().to_string(), sock.display().to_string());
    let out = env.berth(&["create", "--bundle", &bp, "--pidfd-socket", &sp, &id]);
    assert_eq!(out.code, 0, "{}", out.describe());
    let fd = receive_fd(&l);
    let pid = env.state(&id).expect("state")["pid"].as_i64().expect("pid");
    assert_eq!(pidfd_pid(&fd), Some(pid), "the pidfd is not init's");
    pidfd_send_signal(&fd, libc::SIGKILL).expect("pidfd_send_signal");
    env.wait_status(&id, "stopped", T);
    env.berth(&["delete", &id]).ok();
}

#[test]
fn run_sends_a_pidfd_and_the_container_dies_by_it() {
    require_root!();
    let env = Env::new("pidfdrun");
    let (l, sock) = listener(&env, "run.sock");
    let mut b = sleeper(&env);
    let id = env.new_id();
    env.prepare(&mut b, &id);
    let (bp, sp) = (b.path().display().to_string(), sock.display().to_string());
    let run = env.spawn(&["run", "--bundle", &bp, "--pidfd-socket", &sp, &id]);
    let fd = receive_fd(&l);
    let pid = pidfd_pid(&fd).expect("not a pidfd");
    env.wait_status(&id, "running", T);
    assert_eq!(env.state(&id).expect("state")["pid"].as_i64(), Some(pid));
    assert_eq!(fds_of(pid), vec![0, 1, 2], "fds of the container's init");
    pidfd_send_signal(&fd, libc::SIGKILL).expect("pidfd_send_signal");
    let out = run.wait(T);
    assert_eq!(out.code, 128 + libc::SIGKILL, "{}", out.describe());
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}

#[test]
fn exec_sends_a_pidfd_of_the_exec_process() {
    require_root!();
    let env = Env::new("pidfdexec");
    let mut b = sleeper(&env);
    let id = env.new_id();
    env.prepare(&mut b, &id);
    let bp = b.path().display().to_string();
    env.berth(&["run", "--detach", "--bundle", &bp, &id]).ok();
    let init = env.state(&id).expect("state")["pid"].as_i64().expect("pid");
    let (l, sock) = listener(&env, "exec.sock");
    let pid_file = env.dir().join("exec.pid");
    let (sp, pf) = (sock.display().to_string(), pid_file.display().to_string());
    let out = env.berth(&[
        "exec",
        "--detach",
        "--pid-file",
        &pf,
        "--pidfd-socket",
        &sp,
        &id,
        "sleep",
        "60",
    ]);
    assert_eq!(out.code, 0, "{}", out.describe());
    let fd = receive_fd(&l);
    let pid: i64 = read_lossy(&pid_file)
        .trim()
        .parse()
        .expect("pid in pid file");
    assert_ne!(pid, init);
    assert_eq!(
        pidfd_pid(&fd),
        Some(pid),
        "the pidfd is not the exec'd process's"
    );
    // The socket itself never reaches the container.
    assert_eq!(fds_of(pid), vec![0, 1, 2], "fds of the exec'd process");
    pidfd_send_signal(&fd, libc::SIGTERM).expect("pidfd_send_signal");
    assert!(
        wait_pid_gone(pid, T),
        "the exec'd process survived SIGTERM by pidfd"
    );
    assert!(pid_alive(init), "init died with the exec'd process");
    env.berth(&["delete", "--force", &id]).ok();
}

#[test]
fn a_bad_pidfd_socket_is_a_clear_error_and_leaves_nothing() {
    require_root!();
    let env = Env::new("pidfdbad");
    let missing = env.dir().join("missing.sock").display().to_string();
    let mut b = sleeper(&env);
    let id = env.new_id();
    env.prepare(&mut b, &id);
    let bp = b.path().display().to_string();
    for cmd in ["create", "run"] {
        let out = env.berth(&[cmd, "--bundle", &bp, "--pidfd-socket", &missing, &id]);
        assert_eq!(out.code, 1, "{cmd}: {}", out.describe());
        assert!(
            out.stderr.contains("pidfd socket") && out.stderr.contains(&missing),
            "{cmd}: {}",
            out.describe()
        );
        env.assert_nothing_left(cmd);
    }
    // exec into a running container with a missing socket starts nothing.
    env.berth(&["run", "--detach", "--bundle", &bp, &id]).ok();
    let before = env.container_procs().len();
    let out = env.berth(&["exec", "--pidfd-socket", &missing, &id, "sleep", "60"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stderr.contains("pidfd socket"), "{}", out.describe());
    assert_eq!(
        env.container_procs().len(),
        before,
        "a failed exec left a process"
    );
    env.berth(&["delete", "--force", &id]).ok();
}
