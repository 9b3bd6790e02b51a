//! The berth library used directly from Rust, from a program with other
//! threads running (as a tokio embedder would be): the child's setup then
//! runs in the exec'd `berth init` helper instead of a plain fork.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use berth::{Container, ContainerBuilder, Status};
use integration_tests::{berth_bin, pid_alive, read_lossy, require_root, Bundle, Env};

/// Keeps a few busy threads alive for the duration of a test, so the
/// process is clearly multi-threaded while berth forks.
struct BusyThreads {
    stop: Arc<AtomicBool>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl BusyThreads {
    fn start(n: usize) -> BusyThreads {
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    // Allocate constantly: a forked child that touched malloc
                    // while one of these held its lock would deadlock.
                    while !stop.load(Ordering::Relaxed) {
                        let v: Vec<u8> = vec![7; 4096];
                        std::hint::black_box(v);
                    }
                })
            })
            .collect();
        BusyThreads { stop, handles }
    }
}

impl Drop for BusyThreads {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[test]
fn library_runs_a_container_from_a_multithreaded_program() {
    require_root!();
    let env = Env::new("library");
    let _busy = BusyThreads::start(4);
    let mut bundle = Bundle::new(&env);
    let out = env.shared_dir(&mut bundle, "/out");
    bundle.set_sh("echo $$ > /out/pid; hostname > /out/host; exit 5");
    bundle.set_hostname("from-library");
    let id = env.new_id();
    env.prepare(&mut bundle, &id);

    for round in 0..5 {
        let id = format!("{id}-{round}");
        let container = ContainerBuilder::new(&id, bundle.path())
            .root(env.root())
            .init_binary(berth_bin())
            .create()
            .expect("create from a multi-threaded program");
        assert_eq!(container.status(), Status::Created);
        assert!(pid_alive(container.pid() as i64));
        let loaded = Container::load(env.root(), &id).expect("load");
        assert_eq!(loaded.pid(), container.pid());
        container.start().expect("start");
        assert_eq!(container.wait().expect("wait"), 5);
        assert_eq!(read_lossy(&out.join("pid")).trim(), "1");
        assert_eq!(read_lossy(&out.join("host")).trim(), "from-library");
        assert_eq!(container.status(), Status::Stopped);
        container.delete(false).expect("delete a stopped container");
        assert!(!env.root().join(&id).exists(), "state dir left behind");
    }
}

#[test]
fn library_helper_path_reports_the_childs_real_error() {
    require_root!();
    let env = Env::new("libraryerr");
    let _busy = BusyThreads::start(2);
    let mut bundle = Bundle::new(&env);
    bundle.set_args(&["/no/such/program"]);
    let id = env.new_id();
    env.prepare(&mut bundle, &id);
    let err = ContainerBuilder::new(&id, bundle.path())
        .root(env.root())
        .init_binary(berth_bin())
        .create()
        .expect_err("a missing program must fail create");
    let text = err.to_string();
    assert!(text.contains("/no/such/program"), "{text}");
    assert!(text.contains("no such file or directory"), "{text}");
    assert!(!env.root().join(&id).exists(), "state dir left behind");
}

/// A running container (`sleep 60`) made through the library: its id and
/// handle.
fn start_sleeping(env: &Env) -> (String, Container) {
    let mut bundle = Bundle::new(env);
    bundle.set_args(&["sleep", "60"]);
    let id = env.new_id();
    env.prepare(&mut bundle, &id);
    let container = ContainerBuilder::new(&id, bundle.path())
        .root(env.root())
        .init_binary(berth_bin())
        .create()
        .expect("create");
    container.start().expect("start");
    (id, container)
}

#[test]
fn library_kill_and_forced_delete() {
    require_root!();
    let env = Env::new("librarykill");
    let (id, container) = start_sleeping(&env);
    assert_eq!(container.status(), Status::Running);
    let err = container
        .delete(false)
        .expect_err("deleting a running container must fail");
    assert!(err.to_string().contains("running"), "{err}");
    container.kill(libc::SIGKILL, false).expect("kill");
    assert_eq!(container.wait().expect("wait"), 128 + libc::SIGKILL);
    let pid = container.pid();
    container.delete(true).expect("delete");
    assert!(!pid_alive(pid as i64));
    assert!(!env.root().join(&id).exists());
    std::thread::sleep(Duration::from_millis(10));
}

/// exec_and_wait from a program with other threads: the kernel may hand the
/// exec'd process's SIGCHLD to any of them, so waiting must not hang on it.
/// An idle thread (a parked tokio worker) takes it at once, and for
/// SIGCHLD that means it is gone.
#[test]
fn library_exec_and_wait_returns_in_a_multithreaded_program() {
    require_root!();
    let env = Env::new("libraryexec");
    let stop = Arc::new(AtomicBool::new(false));
    let idle = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::park();
            }
        })
    };
    let (id, container) = start_sleeping(&env);
    let mut process = container.config_process().expect("config process");
    process.set_args(Some(vec!["sh".into(), "-c".into(), "exit 7".into()]));
    // Which thread the kernel picks is a race: several rounds.
    const ROUNDS: usize = 20;
    let (done, result) = std::sync::mpsc::channel();
    let waiter = {
        let container = Container::load(env.root(), &id).expect("load");
        std::thread::spawn(move || {
            let options = berth::ExecOptions {
                init_binary: Some(berth_bin()),
                ..Default::default()
            };
            for _ in 0..ROUNDS {
                let code = container.exec_and_wait(process.clone(), &options);
                if done.send(code).is_err() {
                    return;
                }
            }
        })
    };
    let code = (0..ROUNDS)
        .map(|_| result.recv_timeout(Duration::from_secs(20)))
        .find(|r| !matches!(r, Ok(Ok(7))))
        .unwrap_or(Ok(Ok(7)));
    stop.store(true, Ordering::Relaxed);
    idle.thread().unpark();
    let _ = idle.join();
    // Before any cleanup: a hung waiter leaves its exec'd process unreaped,
    // and init cannot finish dying until it is (Env's cleanup copes).
    let code = code.expect("exec_and_wait did not return within 20 s");
    assert_eq!(code.expect("exec_and_wait"), 7);
    waiter.join().expect("waiter thread");
    container.kill(libc::SIGKILL, false).expect("kill");
    container.wait().expect("wait");
    container.delete(true).expect("delete");
}
