//! Config fields beyond the basics: seccomp, hooks, devices.

use std::time::Duration;

use integration_tests::{read_lossy, require_root, Bundle, Env};
use serde_json::json;

#[test]
fn seccomp_denied_syscall_returns_the_configured_errno() {
    require_root!();
    let env = Env::new("seccomperrno");
    for nnp in [true, false] {
        let mut bundle = Bundle::new(&env);
        bundle.set_readonly_root(false);
        bundle.set_sh("mkdir /tmp/x 2>&1; echo rc=$?; ls -d /tmp && echo still-works");
        bundle.config_mut()["process"]["noNewPrivileges"] = json!(nnp);
        bundle.config_mut()["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
            ]
        });
        let id = env.new_id();
        let out = env.run(&mut bundle, &id);
        assert_eq!(out.code, 0, "{}", out.describe());
        // errno 38 is ENOSYS: the configured value, not the default EPERM.
        assert!(
            out.stdout.contains("Function not implemented"),
            "nnp={nnp}: {}",
            out.describe()
        );
        assert!(out.stdout.contains("still-works"), "{}", out.describe());
    }
}

#[test]
fn seccomp_default_errno_and_argument_conditions() {
    require_root!();
    let env = Env::new("seccompargs");
    let mut bundle = Bundle::new(&env);
    // personality(0xffffffff) queries and is allowed; any other value is denied.
    bundle.set_sh("uname -m; setarch linux32 uname -m 2>&1; echo rc=$?");
    bundle.config_mut()["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "defaultErrnoRet": 1,
        "syscalls": [{
            "names": ["personality"], "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]
        }]
    });
    let id = env.new_id();
    let out = env.run(&mut bundle, &id);
    // PER_LINUX32 is 8: denied with the default errno (EPERM).
    assert!(out.stdout.contains("x86_64"), "{}", out.describe());
    assert!(
        out.stdout.contains("Operation not permitted") || out.stdout.contains("rc=1"),
        "{}",
        out.describe()
    );
}

#[test]
fn bad_seccomp_profile_is_refused_before_anything_exists() {
    require_root!();
    let env = Env::new("seccompbad");
    let mut bundle = Bundle::new(&env);
    bundle.config_mut()["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_NOPE"]
    });
    let id = env.new_id();
    let out = env.run(&mut bundle, &id);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(
        out.stderr.contains("linux.seccomp.architectures"),
        "{}",
        out.describe()
    );
    assert!(
        env.root_entries().is_empty(),
        "state left: {:?}",
        env.root_entries()
    );
}

#[test]
fn hooks_see_the_state_on_stdin_in_order() {
    require_root!();
    let env = Env::new("hooks");
    let mut bundle = Bundle::new(&env);
    let log = env.dir().join("hooks.log");
    let hook = |name: &str| {
        json!({
            "path": "/bin/sh",
            "args": ["sh", "-c", format!("echo \"{name} $HOOK_ENV $(cat)\" >> {}", log.display())],
            "env": ["HOOK_ENV=set"],
            "timeout": 5
        })
    };
    bundle.set_args(&["true"]);
    bundle.config_mut()["hooks"] = json!({
        "prestart": [hook("prestart")],
        "createRuntime": [hook("createRuntime")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")]
    });
    let id = env.new_id();
    let out = env.run(&mut bundle, &id);
    assert_eq!(out.code, 0, "{}", out.describe());
    let text = read_lossy(&log);
    let lines: Vec<&str> = text.lines().collect();
    let order: Vec<&str> = lines.iter().filter_map(|l| l.split(' ').next()).collect();
    assert_eq!(
        order,
        ["prestart", "createRuntime", "poststart", "poststop"],
        "{text}"
    );
    for line in &lines {
        assert!(line.contains(" set {"), "env missing: {line}");
        let state: serde_json::Value =
            serde_json::from_str(line.split_once(" set ").map(|x| x.1).unwrap_or("")).unwrap();
        assert_eq!(state["id"], id.as_str());
        assert!(state["pid"].as_i64().unwrap_or(0) > 0, "{line}");
        assert_eq!(state["bundle"], bundle.path().display().to_string());
    }
    assert!(lines[0].contains("\"status\":\"created\""), "{text}");
    assert!(lines[1].contains("\"status\":\"creating\""), "{text}");
    assert!(lines[2].contains("\"status\":\"running\""), "{text}");
    assert!(lines[3].contains("\"status\":\"stopped\""), "{text}");
}

#[test]
fn poststart_hooks_run_after_the_program_is_executed() {
    require_root!();
    let env = Env::new("poststart");
    let mut bundle = Bundle::new(&env);
    let log = env.dir().join("poststart.log");
    // The program is a startContainer hook that takes a while (it runs in
    // init between start and execve): a poststart hook run too early would
    // find init still being berth.
    bundle.set_args(&["sleep", "5"]);
    bundle.config_mut()["hooks"] = json!({
        "startContainer": [{"path": "/bin/sleep", "args": ["sleep", "0.3"]}],
        "poststart": [{"path": "/bin/sh", "args": ["sh", "-c",
            format!("pid=$(sed 's/.*\"pid\":\\([0-9]*\\).*/\\1/'); cat /proc/$pid/comm > {}", log.display())]}]
    });
    let id = env.new_id();
    let out = env.create(&mut bundle, &id);
    assert_eq!(out.code, 0, "{}", out.describe());
    let started = env.berth(&["start", &id]);
    assert_eq!(started.code, 0, "{}", started.describe());
    // start returned: the hook has run, and saw the user's program.
    assert_eq!(
        read_lossy(&log).trim(),
        "sleep",
        "poststart saw init before execve"
    );
    env.berth(&["delete", "--force", &id]).ok();
}

#[test]
fn container_hooks_run_inside_the_container() {
    require_root!();
    let env = Env::new("hooksin");
    let mut bundle = Bundle::new(&env);
    bundle.set_readonly_root(false);
    let out_dir = env.shared_dir(&mut bundle, "/out");
    bundle.set_args(&["true"]);
    // createContainer runs before pivot_root, in the container's mount
    // namespace: the bundle's rootfs is visible by its host path.
    // startContainer runs after it: its path resolves inside the container.
    let host_marker = bundle.rootfs().join("created-marker");
    bundle.config_mut()["hooks"] = json!({
        "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c",
            format!("readlink /proc/self/ns/mnt > {}", host_marker.display())]}],
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c",
            "echo $$ > /out/start-pid; readlink /proc/self/ns/mnt >> /out/start-pid"]}]
    });
    let id = env.new_id();
    let out = env.run(&mut bundle, &id);
    assert_eq!(out.code, 0, "{}", out.describe());
    let host_mnt = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    let created = read_lossy(&host_marker);
    assert!(!created.trim().is_empty());
    assert_ne!(
        created.trim(),
        host_mnt.display().to_string(),
        "createContainer ran in the host mount ns"
    );
    let started = read_lossy(&out_dir.join("start-pid"));
    assert!(!started.is_empty(), "startContainer did not run");
    assert_ne!(
        started.lines().nth(1).unwrap_or(""),
        host_mnt.display().to_string()
    );
}

#[test]
fn failing_create_hook_fails_create_and_leaves_nothing() {
    require_root!();
    let env = Env::new("hookfail");
    for kind in ["createRuntime", "createContainer"] {
        let mut bundle = Bundle::new(&env);
        bundle.set_args(&["sleep", "10"]);
        bundle.config_mut()["hooks"] = json!({
            kind: [{"path": "/bin/sh", "args": ["sh", "-c", "echo hook-said-no >&2; exit 3"]}]
        });
        let id = env.new_id();
        let out = env.create(&mut bundle, &id);
        assert_eq!(out.code, 1, "{}", out.describe());
        assert!(
            out.stderr.contains(&format!("hooks.{kind}[0]")),
            "{}",
            out.describe()
        );
        assert!(out.stderr.contains("hook-said-no"), "{}", out.describe());
        assert!(env.root_entries().is_empty(), "{kind}: state left behind");
        assert!(env.container_procs().is_empty(), "{kind}: processes left");
    }
}

#[test]
fn hook_timeout_is_enforced() {
    require_root!();
    let env = Env::new("hooktimeout");
    let mut bundle = Bundle::new(&env);
    bundle.set_args(&["true"]);
    bundle.config_mut()["hooks"] = json!({
        "createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]
    });
    let id = env.new_id();
    let started = std::time::Instant::now();
    let out = env.create(&mut bundle, &id);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stderr.contains("timed out"), "{}", out.describe());
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(env.root_entries().is_empty());
}

#[test]
fn linux_devices_get_their_mode_and_owner() {
    require_root!();
    let env = Env::new("devices");
    let mut bundle = Bundle::new(&env);
    bundle.set_sh("stat -c '%F %t:%T %a %u:%g' /dev/mynull; echo hi > /dev/mynull && echo wrote");
    // The owner may write (mode 640); the container's root lacks
    // CAP_DAC_OVERRIDE in the default config, so run as the owner.
    bundle.set_user(1000, 1001, &[]);
    bundle.config_mut()["linux"]["devices"] = json!([
        {"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
         "fileMode": 0o640, "uid": 1000, "gid": 1001}
    ]);
    // The device cgroup must allow it too.
    bundle.config_mut()["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    ]);
    let id = env.new_id();
    let out = env.run(&mut bundle, &id);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(
        out.stdout
            .contains("character special file 1:3 640 1000:1001"),
        "{}",
        out.describe()
    );
    assert!(out.stdout.contains("wrote"), "{}", out.describe());
}

#[test]
fn personality_scheduler_io_priority_and_time_offsets() {
    require_root!();
    let env = Env::new("procattrs");
    let mut bundle = Bundle::new(&env);
    bundle.set_sh(
        "uname -m; ionice; grep -E '^(policy|prio)' /proc/self/sched; \
         cut -d' ' -f1 /proc/uptime; cat /proc/self/timens_offsets",
    );
    bundle.add_namespace("time");
    {
        let c = bundle.config_mut();
        c["linux"]["personality"] = json!({"domain": "LINUX32"});
        c["linux"]["timeOffsets"] = json!({
            "boottime": {"secs": 86400 * 365, "nanosecs": 0},
            "monotonic": {"secs": 1000, "nanosecs": 5}
        });
        c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0});
        c["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
    }
    let id = env.new_id();
    let out = env.run(&mut bundle, &id);
    assert_eq!(out.code, 0, "{}", out.describe());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first().copied(), Some("i686"), "{}", out.describe());
    assert!(out.stdout.contains("idle"), "{}", out.describe());
    // SCHED_BATCH is policy 3.
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("policy") && l.trim_end().ends_with(" 3")),
        "{}",
        out.describe()
    );
    let uptime: f64 = out
        .stdout
        .lines()
        .find_map(|l| l.parse().ok())
        .expect("uptime line");
    assert!(
        uptime > 86400.0 * 365.0,
        "boottime offset not applied: {uptime}"
    );
    assert!(
        out.stdout.contains("monotonic") && out.stdout.contains("1000"),
        "{}",
        out.describe()
    );
}

#[test]
fn unavailable_security_features_are_clear_errors() {
    require_root!();
    let env = Env::new("lsmerrors");
    let cases: [(&str, serde_json::Value); 3] = [
        (
            "process.apparmorProfile",
            json!({"process": {"apparmorProfile": "docker-default"}}),
        ),
        (
            "process.selinuxLabel",
            json!({"process": {"selinuxLabel": "system_u:system_r:container_t:s0"}}),
        ),
        (
            "linux.intelRdt",
            json!({"linux": {"intelRdt": {"closID": "x", "l3CacheSchema": "L3:0=f"}}}),
        ),
    ];
    for (field, patch) in cases {
        let apparmor = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
            .is_ok_and(|s| s.starts_with('Y'));
        if field.contains("apparmor") && apparmor {
            eprintln!("SKIPPED {field}: AppArmor is enabled on this host");
            continue;
        }
        let mut bundle = Bundle::new(&env);
        bundle.set_args(&["true"]);
        for (section, values) in patch.as_object().unwrap() {
            for (k, v) in values.as_object().unwrap() {
                bundle.config_mut()[section][k] = v.clone();
            }
        }
        let id = env.new_id();
        let out = env.run(&mut bundle, &id);
        assert_eq!(out.code, 1, "{field}: {}", out.describe());
        assert!(out.stderr.contains(field), "{field}: {}", out.describe());
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.describe());
        assert!(env.root_entries().is_empty(), "{field}: state left behind");
    }
    // A mount label only tags files for a policy: without SELinux it is
    // ignored with a warning (as crun does), and the container runs.
    if !std::path::Path::new("/sys/fs/selinux/enforce").exists() {
        let mut bundle = Bundle::new(&env);
        bundle.set_args(&["true"]);
        bundle.config_mut()["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
        let id = env.new_id();
        let out = env.run(&mut bundle, &id);
        assert_eq!(out.code, 0, "{}", out.describe());
        assert!(
            out.stderr.contains("linux.mountLabel: ignored"),
            "{}",
            out.describe()
        );
    }
}

#[test]
fn recursive_mount_options_reach_submounts() {
    require_root!();
    let env = Env::new("rro");
    let host = env.dir().join("data");
    std::fs::create_dir_all(host.join("sub")).unwrap();
    std::fs::write(host.join("target"), "hello\n").unwrap();
    std::os::unix::fs::symlink("target", host.join("link")).unwrap();
    let sub = host.join("sub");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&sub)
        .status()
        .expect("mount tmpfs");
    assert!(mounted.success());
    let mut bundle = Bundle::new(&env);
    bundle.set_sh(
        "touch /ro/sub/f 2>&1; touch /plain/sub/f && echo plain-sub-writable; \
         cat /nofollow/link 2>&1; cat /nofollow/target",
    );
    let mounts = bundle.config_mut()["mounts"].as_array_mut().unwrap();
    let src = host.display().to_string();
    mounts.push(json!({"destination": "/ro", "type": "bind", "source": src,
                       "options": ["rbind", "rro"]}));
    mounts.push(
        json!({"destination": "/plain", "type": "bind", "source": src,
                       "options": ["rbind", "ro"]}),
    );
    mounts.push(
        json!({"destination": "/nofollow", "type": "bind", "source": src,
                       "options": ["rbind", "nosymfollow"]}),
    );
    let id = env.new_id();
    let out = env.run(&mut bundle, &id);
    let _ = std::process::Command::new("umount").arg(&sub).status();
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(
        out.stdout.contains("Read-only file system"),
        "{}",
        out.describe()
    );
    // Plain "ro" leaves the submount writable: the recursive form is what differs.
    assert!(
        out.stdout.contains("plain-sub-writable"),
        "{}",
        out.describe()
    );
    assert!(
        out.stdout.contains("Too many levels of symbolic links")
            || out.stdout.contains("symbolic link"),
        "{}",
        out.describe()
    );
    assert!(out.stdout.contains("hello"), "{}", out.describe());
}

#[test]
fn seccomp_notify_sends_the_listener_fd_and_state() {
    require_root!();
    use std::os::fd::AsFd;
    let env = Env::new("seccompnotify");
    let sock_path = env.dir().join("listener.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let mut bundle = Bundle::new(&env);
    bundle.set_readonly_root(false);
    bundle.set_sh("mkdir /tmp/notified 2>&1; echo done");
    bundle.config_mut()["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock_path.display().to_string(),
        "listenerMetadata": "berth-test-metadata",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]
    });
    let id = env.new_id();
    let receiver = std::thread::spawn(move || {
        let (conn, _) = listener.accept().expect("accept");
        // Close-on-exec at once: other tests' berth processes must not
        // inherit the listener (the syscalls wait until every copy closes).
        let (data, fd) = integration_tests::recv_with_fd(conn.as_fd());
        assert!(!data.is_empty(), "recvmsg failed");
        let state: serde_json::Value = serde_json::from_slice(&data).unwrap();
        // Closing the listener makes the notified syscalls fail with ENOSYS.
        drop(fd);
        state
    });
    let out = env.run(&mut bundle, &id);
    let state = receiver.join().expect("listener thread");
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(state["metadata"], "berth-test-metadata", "{state}");
    assert_eq!(state["fds"], json!(["seccompFd"]), "{state}");
    assert_eq!(state["state"]["id"], id.as_str(), "{state}");
    assert!(state["pid"].as_i64().unwrap_or(0) > 0, "{state}");
    assert!(
        out.stdout.contains("Function not implemented"),
        "{}",
        out.describe()
    );
    assert!(out.stdout.contains("done"));
}

#[test]
fn tmpcopyup_fills_the_tmpfs_with_the_directory_it_covers() {
    require_root!();
    let env = Env::new("tmpcopyup");
    let mut bundle = Bundle::new(&env);
    bundle.set_readonly_root(true);
    std::fs::create_dir_all(bundle.rootfs().join("data/sub")).unwrap();
    std::fs::write(bundle.rootfs().join("data/sub/file"), "from-image\n").unwrap();
    std::os::unix::fs::symlink("sub/file", bundle.rootfs().join("data/link")).unwrap();
    std::fs::create_dir_all(bundle.rootfs().join("frozen")).unwrap();
    std::fs::write(bundle.rootfs().join("frozen/file"), "kept\n").unwrap();
    bundle.set_sh(
        "cat /data/sub/file; cat /data/link; echo new > /data/new && cat /data/new; \
         stat -c %a /data; grep ' /data ' /proc/self/mounts | cut -d' ' -f3; \
         cat /frozen/file; grep ' /frozen ' /proc/self/mounts | cut -d' ' -f3,4 | cut -d, -f1; \
         touch /frozen/new 2>/dev/null || echo refused",
    );
    let mounts = bundle.config_mut()["mounts"].as_array_mut().unwrap();
    mounts.push(json!({
        "destination": "/data", "type": "tmpfs", "source": "tmpfs",
        "options": ["rw", "nosuid", "nodev", "tmpcopyup"]
    }));
    // Read-only: filled first, then made read-only.
    mounts.push(json!({
        "destination": "/frozen", "type": "tmpfs", "source": "tmpfs",
        "options": ["ro", "tmpcopyup"]
    }));
    let id = env.new_id();
    let out = env.run(&mut bundle, &id);
    assert_eq!(out.code, 0, "{}", out.describe());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "from-image",
            "from-image",
            "new",
            "755",
            "tmpfs",
            "kept",
            "tmpfs ro",
            "refused"
        ],
        "{}",
        out.describe()
    );
    assert!(
        !bundle.rootfs().join("data/new").exists(),
        "the write reached the image"
    );
}
