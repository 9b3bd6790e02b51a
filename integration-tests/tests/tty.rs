//! Terminals berth relays itself: a foreground `run` or `exec -t` without
//! --console-socket, as with runc.

use std::io::Write;
use std::process::{Command, Stdio};

use integration_tests::{berth_bin, require_root, Bundle, Env};

fn berth_with_stdin(env: &Env, args: &[&str], input: &str) -> (i32, String) {
    let mut child = Command::new(berth_bin())
        .arg("--root")
        .arg(env.root())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn berth");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn foreground_run_relays_the_terminal() {
    require_root!();
    let env = Env::new("ttyrun");
    let mut bundle = Bundle::new(&env);
    bundle.set_args(&["sh"]);
    bundle.set_terminal(true);
    let id = env.new_id();
    env.prepare(&mut bundle, &id);
    let b = bundle.path().display().to_string();
    let (code, out) = berth_with_stdin(
        &env,
        &["run", "--bundle", &b, &id],
        "tty; echo hello-from-tty; exit 4\n",
    );
    assert_eq!(code, 4, "{out}");
    assert!(
        out.contains("/dev/pts/0"),
        "the shell has no terminal: {out}"
    );
    assert!(out.contains("hello-from-tty"), "{out}");
    assert!(env.root_entries().is_empty());
}

#[test]
fn exec_tty_relays_the_terminal() {
    require_root!();
    let env = Env::new("ttyexec");
    let mut bundle = Bundle::new(&env);
    bundle.set_args(&["sleep", "60"]);
    let id = env.new_id();
    env.create(&mut bundle, &id).ok();
    env.berth(&["start", &id]).ok();
    let (code, out) = berth_with_stdin(&env, &["exec", "-t", &id, "sh"], "tty; exit 6\n");
    assert_eq!(code, 6, "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    env.berth(&["delete", "--force", &id]).ok();
}
