//! Drives a container from a program with two threads, which makes berth
//! launch through its helper binary (`berth init`, found in PATH or through
//! BERTH_INIT_BINARY) instead of forking in-process: creates the container,
//! starts it, runs `cat /proc/self/cgroup` in it, then kills and deletes it.
//!
//! ```text
//! threaded ROOT BUNDLE ID
//! ```
//!
//! The cgroup v2 lane (conformance/cgroupv2) runs it from a cgroup with no
//! room for the container's processes, to show that the helper clones them
//! straight into the container's cgroup.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, root, bundle, id] = &args[..] else {
        eprintln!("usage: threaded ROOT BUNDLE ID");
        return ExitCode::from(2);
    };
    // The second thread: berth must not fork in-process from here.
    std::thread::spawn(|| loop {
        std::thread::park();
    });
    let result = (|| -> berth::Result<i32> {
        let container = berth::ContainerBuilder::new(id, bundle)
            .root(root)
            .create()?;
        println!("created {} (init pid {})", container.id(), container.pid());
        container.start()?;
        let mut process = container.config_process()?;
        process.set_args(Some(vec!["cat".into(), "/proc/self/cgroup".into()]));
        let code = container.exec_and_wait(process, &berth::ExecOptions::default())?;
        container.kill(libc::SIGKILL, false)?;
        container.wait()?;
        container.delete(false)?;
        Ok(code)
    })();
    match result {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("threaded: {e}");
            ExitCode::from(1)
        }
    }
}
