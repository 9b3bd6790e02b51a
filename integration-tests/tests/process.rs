//! The container process: env, cwd, user, rlimits, terminal.

use integration_tests::*;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

#[test]
fn env_cwd_user_and_additional_gids() {
    require_root!();
    let env = Env::new("user");
    let mut b = Bundle::new(&env);
    b.set_env(&["PATH=/bin", "FOO=bar baz", "BERTH_TEST=1"])
        .set_cwd("/tmp")
        .set_user(1000, 1001, &[10, 20])
        .set_sh(
            "echo uid=$(id -u) gid=$(id -g); pwd; grep -E '^(Uid|Gid|Groups):' /proc/self/status; \
             echo ---; env",
        );
    let out = env.run(&mut b, &env.new_id()).ok();
    let (head, envs) = out
        .stdout
        .split_once("---\n")
        .unwrap_or_else(|| panic!("{}", out.describe()));
    assert!(head.contains("uid=1000 gid=1001\n"), "{}", out.describe());
    let lines: Vec<&str> = head.lines().collect();
    assert_eq!(lines.get(1), Some(&"/tmp"), "cwd: {}", out.describe());
    assert_eq!(
        status_field(head, "Uid").as_deref(),
        Some("1000 1000 1000 1000"),
        "{head}"
    );
    assert_eq!(
        status_field(head, "Gid").as_deref(),
        Some("1001 1001 1001 1001"),
        "{head}"
    );
    assert_eq!(
        status_field(head, "Groups").as_deref(),
        Some("10 20"),
        "{head}"
    );

    let envs: Vec<&str> = envs.lines().collect();
    for want in ["PATH=/bin", "FOO=bar baz", "BERTH_TEST=1"] {
        assert!(envs.contains(&want), "env lacks {want}: {envs:?}");
    }
    // Nothing of the test's own environment leaks in (HOME is set by the
    // runtime like runc does; PWD/SHLVL by sh).
    for leaked in ["CARGO", "RUST_TEST_THREADS", "CARGO_MANIFEST_DIR"] {
        assert!(
            !envs.iter().any(|e| e.starts_with(&format!("{leaked}="))),
            "host variable {leaked} leaked into the container: {envs:?}"
        );
    }
}

#[test]
fn rlimits_are_applied() {
    require_root!();
    let env = Env::new("rlimit");
    let mut b = Bundle::new(&env);
    b.set_rlimit("RLIMIT_NOFILE", 1024, 2048).set_sh(
        "echo soft=$(ulimit -n) hard=$(ulimit -Hn); grep 'Max open files' /proc/self/limits",
    );
    let out = env.run(&mut b, &env.new_id()).ok();
    assert!(
        out.stdout.contains("soft=1024 hard=2048"),
        "{}",
        out.describe()
    );
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_else(|| panic!("{}", out.describe()));
    let nums: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(nums, ["1024", "2048"], "{line}");
}

/// Read from the pty master until `needle` shows up, EOF/EIO, or timeout.
fn read_pty_until(fd: RawFd, needle: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    while Instant::now() < deadline {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 100) };
        if r <= 0 {
            continue;
        }
        let mut buf = [0u8; 4096];
        // SAFETY: buf is valid for its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break; // EIO once the slave side is closed
        }
        got.extend_from_slice(&buf[..n as usize]);
        if String::from_utf8_lossy(&got).contains(needle) {
            break;
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn console_socket_receives_the_pty_master() {
    require_root!();
    let env = Env::new("console");
    let mut b = Bundle::new(&env);
    b.set_terminal(true)
        .set_sh("echo hello-tty; tty; test -t 0 && echo stdin-is-tty; echo tty-done");
    let id = env.new_id();
    env.prepare(&mut b, &id);
    let sock_path = env.dir().join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();

    let bdir = b.path().display().to_string();
    let sock = sock_path.display().to_string();
    let create = env.spawn(&["create", "--bundle", &bdir, "--console-socket", &sock, &id]);
    // Accept in this thread, with a deadline, in case berth never connects.
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + T;
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "berth create never connected to --console-socket"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    conn.set_nonblocking(false).unwrap();
    let master = recv_with_fd(conn.as_fd()).1;
    let out = create.wait(T);
    assert_eq!(
        out.code,
        0,
        "create with a console socket:\n{}",
        out.describe()
    );
    assert_eq!(env.status(&id), "created");

    env.berth(&["start", &id]).ok();
    let text = read_pty_until(master.as_raw_fd(), "tty-done", T);
    assert!(text.contains("hello-tty"), "pty output: {text:?}");
    assert!(text.contains("/dev/pts/"), "tty inside: {text:?}");
    assert!(text.contains("stdin-is-tty"), "pty output: {text:?}");
    env.wait_status(&id, "stopped", T);
    env.berth(&["delete", &id]).ok();
    drop(master);
}

#[test]
fn terminal_without_console_socket_is_refused() {
    require_root!();
    let env = Env::new("noconsole");
    let mut b = Bundle::new(&env);
    b.set_terminal(true).set_args(&["true"]);
    let id = env.new_id();
    let out = env.create(&mut b, &id);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stderr.starts_with("berth: "), "{}", out.describe());
    assert!(out.stderr.contains("console"), "{}", out.describe());
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}
