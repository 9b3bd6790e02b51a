//! sysctl, oomScoreAdj, domainname, --no-pivot, rootfsPropagation, and the
//! JSON log format.

use integration_tests::{mountinfo, read_lossy, require_root, Bundle, Env};
use serde_json::json;

#[test]
fn sysctl_oom_score_adj_and_domainname_are_applied() {
    require_root!();
    let env = Env::new("sysctl");
    let mut bundle = Bundle::new(&env);
    bundle.set_sh(
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni /proc/self/oom_score_adj; \
         cat /proc/sys/kernel/domainname",
    );
    {
        let c = bundle.config_mut();
        c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"});
        c["process"]["oomScoreAdj"] = json!(321);
        c["domainname"] = json!("berth.example");
    }
    let id = env.new_id();
    let out = env.run(&mut bundle, &id);
    assert_eq!(out.code, 0, "{}", out.describe());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        ["1", "1234", "321", "berth.example"],
        "{}",
        out.describe()
    );
    // The host's values are untouched.
    let host_shmmni = read_lossy(std::path::Path::new("/proc/sys/kernel/shmmni"));
    assert_ne!(host_shmmni.trim(), "1234");
}

#[test]
fn negative_oom_score_adj_without_cap_sys_resource_is_a_clear_error() {
    require_root!();
    // Lowering oom_score_adj needs CAP_SYS_RESOURCE; where berth has it the
    // value simply applies.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .unwrap_or(0);
    let env = Env::new("oomneg");
    let mut bundle = Bundle::new(&env);
    bundle.set_args(&["cat", "/proc/self/oom_score_adj"]);
    bundle.config_mut()["process"]["oomScoreAdj"] = json!(-500);
    let id = env.new_id();
    let out = env.run(&mut bundle, &id);
    if cap_eff & (1 << 24) != 0 {
        assert_eq!(out.code, 0, "{}", out.describe());
        assert_eq!(out.stdout.trim(), "-500");
        return;
    }
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(
        out.stderr.contains("process.oomScoreAdj"),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("CAP_SYS_RESOURCE"),
        "{}",
        out.describe()
    );
    assert!(env.root_entries().is_empty());
    assert!(env.container_procs().is_empty());
}

#[test]
fn rlimit_above_the_hard_limit_is_a_clear_error() {
    require_root!();
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) };
    let env = Env::new("rlimithigh");
    let mut bundle = Bundle::new(&env);
    bundle.set_args(&["true"]);
    let above = hard.rlim_max.saturating_add(1024);
    bundle.set_rlimit("RLIMIT_NOFILE", above, above);
    let id = env.new_id();
    let out = env.run(&mut bundle, &id);
    if out.code == 0 {
        eprintln!("SKIPPED: berth may raise hard limits here (CAP_SYS_RESOURCE present)");
        return;
    }
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(
        out.stderr.contains("process.rlimits[0]"),
        "{}",
        out.describe()
    );
    assert!(out.stderr.contains("RLIMIT_NOFILE"), "{}", out.describe());
    assert!(env.root_entries().is_empty());
}

#[test]
fn no_pivot_and_rootfs_propagation() {
    require_root!();
    let env = Env::new("nopivot");
    let mut bundle = Bundle::new(&env);
    bundle.set_sh("grep ' / / ' /proc/self/mountinfo; ls /");
    bundle.config_mut()["linux"]["rootfsPropagation"] = json!("private");
    let id = env.new_id();
    env.prepare(&mut bundle, &id);
    let b = bundle.path().display().to_string();
    let out = env.berth(&["run", "--no-pivot", "--bundle", &b, &id]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(out.stdout.contains("bin"), "{}", out.describe());
    // A private root has no shared: or master: tag in mountinfo.
    let root_line = out.stdout.lines().next().unwrap_or("");
    assert!(
        !root_line.contains("shared:") && !root_line.contains("master:"),
        "{root_line}"
    );
    assert!(env.root_entries().is_empty());
}

#[test]
fn json_log_format_carries_the_error() {
    require_root!();
    let env = Env::new("jsonlog");
    let mut bundle = Bundle::new(&env);
    bundle.set_args(&["/no/such/binary"]);
    let id = env.new_id();
    env.prepare(&mut bundle, &id);
    let log = env.dir().join("log.json");
    let (l, b) = (
        log.display().to_string(),
        bundle.path().display().to_string(),
    );
    let out = env.berth(&[
        "--log",
        &l,
        "--log-format",
        "json",
        "create",
        "--bundle",
        &b,
        &id,
    ]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let text = read_lossy(&log);
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or("{}"))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert_eq!(last["level"], "error", "{text}");
    assert!(
        last["msg"]
            .as_str()
            .unwrap_or("")
            .contains("no such file or directory"),
        "{text}"
    );
    assert!(
        last["time"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{text}"
    );
}

#[test]
fn without_a_mount_namespace_the_host_mounts_stay_untouched() {
    require_root!();
    let env = Env::new("nomntns");
    let mut bundle = Bundle::new(&env);
    bundle.remove_namespace("mount");
    bundle.set_sh("ls /; readlink /proc/self/ns/mnt 2>/dev/null; echo done");
    std::fs::write(bundle.rootfs().join("marker-in-rootfs"), "").unwrap();
    let before = mountinfo();
    let id = env.new_id();
    let out = env.run(&mut bundle, &id);
    let after = mountinfo();
    assert_eq!(out.code, 0, "{}", out.describe());
    // The process saw the bundle's root, through chroot.
    assert!(
        out.stdout.contains("marker-in-rootfs"),
        "{}",
        out.describe()
    );
    // Nothing was mounted in (or removed from) the runtime's namespace, and
    // the skipped settings were reported.
    assert_eq!(before, after, "the host's mount table changed");
    assert!(
        out.stderr.contains("mounts: not applied"),
        "{}",
        out.describe()
    );
}

/// `"type": "bind"` names no filesystem and does not make a bind mount by
/// itself (runc 1.1.5 and crun 1.8.1 fail on such a mount with "no such
/// device" too): berth refuses it before creating anything and says which
/// field is wrong and how to fix it. The same mount with "rbind" works.
#[test]
fn bind_type_without_a_bind_option_is_a_clear_error() {
    require_root!();
    let env = Env::new("bindtype");
    let src = env.dir().join("bindsrc");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("hello"), "from the host\n").unwrap();
    let with_mount = |options: Option<serde_json::Value>| {
        let mut bundle = Bundle::new(&env);
        bundle.set_args(&["cat", "/mnt/x/hello"]);
        let mut m = json!({"destination": "/mnt/x", "type": "bind",
                           "source": src.display().to_string()});
        if let Some(o) = options {
            m["options"] = o;
        }
        let mounts = bundle.config_mut()["mounts"].as_array_mut().unwrap();
        mounts.push(m);
        let index = mounts.len() - 1;
        (bundle, index)
    };

    let (mut bundle, _) = with_mount(Some(json!(["rbind", "ro"])));
    let id = env.new_id();
    let out = env.run(&mut bundle, &id);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(out.stdout.trim(), "from the host", "{}", out.describe());

    for options in [None, Some(json!(["ro", "nosuid"]))] {
        let (mut bundle, index) = with_mount(options.clone());
        let id = env.new_id();
        let out = env.run(&mut bundle, &id);
        assert_eq!(out.code, 1, "options {options:?}: {}", out.describe());
        let field = format!("mounts[{index}].type: \"bind\" is not a filesystem type");
        assert!(out.stderr.contains(&field), "{}", out.describe());
        assert!(out.stderr.contains("\"rbind\""), "{}", out.describe());
        assert!(!out.stderr.contains("No such device"), "{}", out.describe());
        assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
        assert!(env.container_procs().is_empty());
        assert!(env.cgroup_dirs().is_empty(), "{:?}", env.cgroup_dirs());
    }
}

#[test]
fn a_bad_filesystem_option_carries_the_kernels_reason() {
    require_root!();
    let env = Env::new("badfsopt");
    let mut bundle = Bundle::new(&env);
    bundle.set_args(&["true"]);
    bundle.config_mut()["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                     "options": ["nosuid", "size=lots"]}),
    );
    let id = env.new_id();
    let out = env.run(&mut bundle, &id);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
    // The mount, the errno and what tmpfs itself said about the option.
    for part in [
        "mount /scratch",
        "Invalid argument",
        "tmpfs: Bad value for 'size'",
    ] {
        assert!(out.stderr.contains(part), "no {part:?}: {}", out.describe());
    }
    assert!(env.container_procs().is_empty());
    env.assert_nothing_left("after the refused run");
}
