//! Terminals berth relays itself: a foreground `run` or `exec -t` without
//! --console-socket, as with runc.

use integration_tests::{require_root, Bundle, Env};

/// Exit code and stdout+stderr of berth run with `input` on stdin.
fn stdin_run(env: &Env, args: &[&str], input: &str) -> (i32, String) {
    let (code, out, err) = env.berth_stdin(args, input);
    (code, out + &err)
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
    let (code, out) = stdin_run(
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
    let (code, out) = stdin_run(&env, &["exec", "-t", &id, "sh"], "tty; exit 6\n");
    assert_eq!(code, 6, "{out}");
    assert!(out.contains("/dev/pts/"), "{out}");
    env.berth(&["delete", "--force", &id]).ok();
}
