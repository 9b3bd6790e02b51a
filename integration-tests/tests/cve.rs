//! Escapes that must not work.

use std::time::Duration;

use integration_tests::{read_lossy, require_root, wait_for_file, Bundle, Env};

/// CVE-2019-5736: while a container is being created, its init is still a
/// berth process. A process of the container's pid namespace must not be
/// able to open that process's /proc/<pid>/exe (the host berth binary).
#[test]
fn container_cannot_open_the_berth_binary_of_a_creating_container() {
    require_root!();
    let env = Env::new("cve20195736");
    // A: the attacker, looking at every process of its pid namespace.
    let mut attacker = Bundle::new(&env);
    let out = env.shared_dir(&mut attacker, "/out");
    attacker.set_sh(
        "while true; do \
           for p in /proc/[0-9]*; do \
             n=${p#/proc/}; [ \"$n\" = 1 ] && continue; [ \"$n\" = $$ ] && continue; \
             if cat $p/exe > /dev/null 2>/dev/null; then echo \"opened $n\" >> /out/log; \
             else echo \"denied $n\" >> /out/log; fi; \
           done; sleep 0.05; \
         done",
    );
    let a = env.new_id();
    env.create(&mut attacker, &a).ok();
    env.berth(&["start", &a]).ok();
    let a_pid = env.state(&a).expect("state of A")["pid"]
        .as_i64()
        .expect("pid");

    // B: created (not started) in A's pid namespace, so its init (a berth
    // process waiting for start) is visible to A.
    let mut victim = Bundle::new(&env);
    victim.set_args(&["true"]);
    victim.remove_namespace("pid");
    {
        let ns = victim.config_mut()["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces");
        ns.push(serde_json::json!({"type": "pid", "path": format!("/proc/{a_pid}/ns/pid")}));
    }
    let b = env.new_id();
    env.create(&mut victim, &b).ok();
    let log = wait_for_file(&out.join("log"), "denied", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(300));
    let log = read_lossy(&out.join("log")) + &log;
    assert!(
        !log.contains("opened"),
        "the container opened a berth process's exe: {log}"
    );
    env.berth(&["delete", "--force", &b]).ok();
    env.berth(&["delete", "--force", &a]).ok();
}

/// CVE-2024-21626: no descriptor of the runtime reaches the container.
#[test]
fn no_runtime_fd_leaks_into_the_container() {
    require_root!();
    let env = Env::new("cve202421626");
    let mut bundle = Bundle::new(&env);
    let out = env.shared_dir(&mut bundle, "/out");
    bundle.set_sh("ls -l /proc/self/fd > /out/fds; readlink /proc/self/cwd > /out/cwd");
    bundle.set_cwd("/tmp");
    let id = env.new_id();
    env.run(&mut bundle, &id).ok();
    let fds = read_lossy(&out.join("fds"));
    // ls itself opens the directory it lists (fd 3); nothing else beyond stdio.
    let extra: Vec<&str> = fds
        .lines()
        .filter(|l| l.contains("->"))
        .filter(|l| {
            let fd = l
                .split("->")
                .next()
                .unwrap_or("")
                .split_whitespace()
                .last()
                .unwrap_or("");
            !matches!(fd, "0" | "1" | "2" | "3")
        })
        .collect();
    assert!(
        extra.is_empty(),
        "fds leaked into the container: {extra:?}\n{fds}"
    );
    assert_eq!(read_lossy(&out.join("cwd")).trim(), "/tmp");
}
