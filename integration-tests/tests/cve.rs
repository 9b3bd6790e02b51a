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

// ---------------------------------------------------------------------------
// CVE-2021-30465 and the 2025 runc advisories (31133, 52565, 52881): paths
// swapped under the runtime's feet. Each is a real attempt that must fail.

use integration_tests::{assert_no_leaks, dir_entries, Snapshot};
use serde_json::json;
use std::ffi::CString;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

fn c_path(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
}

/// Swaps `a` and `b` atomically (renameat2 RENAME_EXCHANGE) as fast as it
/// can until stopped; returns the number of swaps.
fn flipper(a: &Path, b: &Path, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<usize> {
    let (a, b) = (c_path(a), c_path(b));
    std::thread::spawn(move || {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            // SAFETY: two valid C strings.
            let r = unsafe {
                libc::renameat2(
                    libc::AT_FDCWD,
                    a.as_ptr(),
                    libc::AT_FDCWD,
                    b.as_ptr(),
                    libc::RENAME_EXCHANGE,
                )
            };
            if r != 0 {
                // The test is over (its directory is gone).
                break;
            }
            n += 1;
        }
        n
    })
}

fn mknod(p: &Path, mode: libc::mode_t, major: u32, minor: u32) {
    // SAFETY: a valid C string.
    let r = unsafe { libc::mknod(c_path(p).as_ptr(), mode, libc::makedev(major, minor)) };
    assert_eq!(
        r,
        0,
        "mknod {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

fn host_core_pattern() -> String {
    fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap()
}

/// CVE-2021-30465: a bind mount whose destination runs through a volume the
/// attacker controls, with a path component flipped between a directory and
/// a symlink to "/" while berth sets up the mounts. Resolved on the host,
/// the mount (and the mkdir before it) would land at the host's /NAME.
#[test]
fn cve_2021_30465_symlink_swapped_in_during_mount_setup() {
    require_root!();
    let env = Env::exclusive("cve202130465");
    let name = format!("berth-cve-30465-{}", std::process::id());
    let host_target = Path::new("/").join(&name);
    assert!(!host_target.exists());
    // The shared volume: sub is a directory (with NAME inside) or a symlink
    // to "/", swapped with sub.alt all the time.
    let vol = env.dir().join("vol");
    fs::create_dir_all(vol.join("sub").join(&name)).unwrap();
    symlink("/", vol.join("sub.alt")).unwrap();
    let payload = env.dir().join("payload");
    fs::create_dir_all(&payload).unwrap();
    fs::write(payload.join("marker"), "payload").unwrap();

    let mut b = Bundle::new(&env);
    b.add_bind_mount(&vol, "/vol", false);
    b.add_bind_mount(&payload, &format!("/vol/sub/{name}"), true);
    b.set_sh("cat /proc/self/mountinfo");
    let before = Snapshot::take(&env);
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = flipper(&vol.join("sub"), &vol.join("sub.alt"), stop.clone());
    let (mut at_vol, mut at_root, mut failed) = (0, 0, 0);
    for i in 0..40 {
        let id = env.new_id();
        let out = env.run(&mut b, &id);
        assert!(
            !host_target.exists(),
            "run {i} created the host's {}",
            host_target.display()
        );
        if out.code != 0 {
            assert!(
                out.code == 1 && out.stderr.lines().count() == 1,
                "run {i}: {}",
                out.describe()
            );
            failed += 1;
            continue;
        }
        // Where did the payload land? Field 4 is the mount's root inside
        // its filesystem, field 5 the mount point.
        let points: Vec<&str> = out
            .stdout
            .lines()
            .filter(|l| l.split(' ').nth(3).is_some_and(|r| r.ends_with("/payload")))
            .filter_map(|l| l.split(' ').nth(4))
            .collect();
        assert_eq!(
            points.len(),
            1,
            "run {i}: payload mounts {points:?}\n{}",
            out.stdout
        );
        // The directory berth opened may have been renamed to sub.alt
        // since: the mount stays on it, inside the volume.
        if points[0] == format!("/vol/sub/{name}") || points[0] == format!("/vol/sub.alt/{name}") {
            at_vol += 1;
        } else if points[0] == format!("/{name}") {
            // The symlink won the race: "/" is the container's root.
            at_root += 1;
        } else {
            panic!("run {i}: payload mounted at {}", points[0]);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swaps.join().unwrap();
    eprintln!(
        "CVE-2021-30465: {swaps} swaps; payload in the volume {at_vol}, at /NAME (inside) \
         {at_root}, clean failures {failed}"
    );
    assert!(!host_target.exists());
    assert_eq!(read_lossy(&payload.join("marker")), "payload");
    assert_eq!(dir_entries(&payload), vec!["marker".to_string()]);
    assert_no_leaks(&before, &Snapshot::take(&env));
}

/// A bundle whose /dev is a bind of a host directory `dev` (so berth makes
/// no nodes of its own), masking /proc/timer_list, printing what the
/// masked file reads as.
fn bundle_with_bound_dev(env: &Env, dev: &Path) -> Bundle {
    let mut b = Bundle::new(env);
    {
        let mounts = b.config_mut()["mounts"].as_array_mut().unwrap();
        let i = mounts
            .iter()
            .position(|m| m["destination"] == "/dev")
            .unwrap();
        mounts[i] = json!({"destination": "/dev", "type": "bind",
                           "source": dev, "options": ["rbind", "rw"]});
    }
    b.config_mut()["linux"]["maskedPaths"] = json!(["/proc/timer_list"]);
    b.config_mut()["linux"]["readonlyPaths"] = json!(["/proc/sys"]);
    b.set_sh("echo \"timer_list=[$(head -c 100 /proc/timer_list)]\"");
    b
}

/// CVE-2025-31133: /dev/null of the container replaced by something else
/// (a symlink to core_pattern, a file, another device, a directory) must
/// never be bound over a masked path: berth checks it is char 1:3.
#[test]
fn cve_2025_31133_fake_dev_null_is_never_bound_over_masked_paths() {
    require_root!();
    let env = Env::exclusive("cve202531133");
    let core = host_core_pattern();
    type Make = fn(&Path);
    let fakes: [(&str, Make); 4] = [
        ("symlink to core_pattern", |p| {
            symlink("/proc/sys/kernel/core_pattern", p).unwrap()
        }),
        ("regular file", |p| {
            fs::write(p, "not the null device").unwrap()
        }),
        ("char device 1:5", |p| mknod(p, libc::S_IFCHR | 0o666, 1, 5)),
        ("directory", |p| fs::create_dir(p).unwrap()),
    ];
    let before = Snapshot::take(&env);
    for (what, make) in fakes {
        let dev = env.dir().join(format!("dev-{}", what.replace(' ', "-")));
        fs::create_dir_all(&dev).unwrap();
        make(&dev.join("null"));
        let mut b = bundle_with_bound_dev(&env, &dev);
        let out = env.run(&mut b, &env.new_id());
        assert_eq!(out.code, 1, "/dev/null is a {what}:\n{}", out.describe());
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
        assert!(
            out.stderr.contains("linux.maskedPaths") && out.stderr.contains("/dev/null"),
            "/dev/null is a {what}: {}",
            out.describe()
        );
    }
    // The real thing works: the masked file reads empty.
    let dev = env.dir().join("dev-real");
    fs::create_dir_all(&dev).unwrap();
    mknod(&dev.join("null"), libc::S_IFCHR | 0o666, 1, 3);
    let mut b = bundle_with_bound_dev(&env, &dev);
    let out = env.run(&mut b, &env.new_id()).ok();
    assert!(out.stdout.contains("timer_list=[]"), "{}", out.describe());
    assert_eq!(host_core_pattern(), core);
    assert_no_leaks(&before, &Snapshot::take(&env));
}

/// The default config puts a tmpfs on /dev and makes its own nodes: an
/// image shipping a hostile /dev/null (a symlink to core_pattern) never
/// gets to be used, and masking works.
#[test]
fn hostile_dev_null_in_the_image_is_replaced() {
    require_root!();
    let env = Env::new("imagedevnull");
    let mut b = Bundle::new(&env);
    symlink("/proc/sys/kernel/core_pattern", b.rootfs().join("dev/null")).unwrap();
    b.config_mut()["linux"]["maskedPaths"] = json!(["/proc/timer_list"]);
    b.set_sh(
        "echo \"timer_list=[$(head -c 100 /proc/timer_list)]\"; stat -c 'null=%F %t:%T' /dev/null",
    );
    let out = env.run(&mut b, &env.new_id()).ok();
    assert!(out.stdout.contains("timer_list=[]"), "{}", out.describe());
    assert!(
        out.stdout.contains("null=character special file 1:3"),
        "{}",
        out.describe()
    );
}

/// CVE-2025-52565 (the race form): the container's /dev/null flipped between
/// the real node and a symlink to core_pattern while berth masks paths.
/// Every run either fails cleanly or masks with the real null device; the
/// masked file never shows core_pattern.
#[test]
fn cve_2025_52565_dev_null_swapped_during_masking() {
    require_root!();
    let env = Env::exclusive("cve202552565");
    let dev = env.dir().join("dev");
    fs::create_dir_all(&dev).unwrap();
    mknod(&dev.join("null"), libc::S_IFCHR | 0o666, 1, 3);
    symlink("/proc/sys/kernel/core_pattern", dev.join("null.alt")).unwrap();
    let mut b = bundle_with_bound_dev(&env, &dev);
    let core = host_core_pattern();
    let before = Snapshot::take(&env);
    let stop = Arc::new(AtomicBool::new(false));
    let swaps = flipper(&dev.join("null"), &dev.join("null.alt"), stop.clone());
    let masked = AtomicUsize::new(0);
    let mut refused = 0;
    for i in 0..40 {
        let out = env.run(&mut b, &env.new_id());
        match out.code {
            0 => {
                assert!(
                    out.stdout.contains("timer_list=[]"),
                    "run {i}: {}",
                    out.describe()
                );
                masked.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                assert_eq!(out.code, 1, "run {i}: {}", out.describe());
                assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
                refused += 1;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = swaps.join().unwrap();
    eprintln!(
        "CVE-2025-52565: {swaps} swaps; masked with the real null {}, refused {refused}",
        masked.load(Ordering::Relaxed)
    );
    assert_eq!(host_core_pattern(), core);
    assert_no_leaks(&before, &Snapshot::take(&env));
}

/// A masked path that is itself a symlink (to core_pattern) in the image:
/// berth must not follow it and mask (or expose) the host file.
#[test]
fn masked_path_that_is_a_symlink_is_not_followed() {
    require_root!();
    let env = Env::new("maskedsymlink");
    let core = host_core_pattern();
    let mut b = Bundle::new(&env);
    symlink(
        "/proc/sys/kernel/core_pattern",
        b.rootfs().join("etc/mask-me"),
    )
    .unwrap();
    b.config_mut()["linux"]["maskedPaths"] = json!(["/etc/mask-me"]);
    b.set_sh("echo \"core=[$(cat /proc/sys/kernel/core_pattern)]\"");
    let out = env.run(&mut b, &env.new_id());
    assert!(
        out.code == 0 || (out.code == 1 && out.stderr.lines().count() == 1),
        "{}",
        out.describe()
    );
    if out.code == 0 {
        // core_pattern is not namespaced: the container sees the host's.
        assert!(
            out.stdout.contains(&format!("core=[{}]", core.trim_end())),
            "core_pattern was masked through the symlink: {}",
            out.describe()
        );
    }
    assert_eq!(host_core_pattern(), core);
}

/// CVE-2025-52881-style: a sysctl write redirected away from procfs. Without
/// a proc mount the image's own /proc is used; its /proc/sys/kernel is a
/// symlink to a bind-mounted host directory (or holds a plain file). berth
/// checks with fstatfs that it writes into procfs and refuses.
#[test]
fn cve_2025_52881_sysctl_write_redirected_off_procfs() {
    require_root!();
    let env = Env::exclusive("cve202552881");
    let host = env.dir().join("hostsys");
    fs::create_dir_all(&host).unwrap();
    fs::write(host.join("hostname"), "original").unwrap();
    let before = Snapshot::take(&env);
    for variant in ["symlink to a host directory", "plain file in the image"] {
        let mut b = Bundle::new(&env);
        {
            let c = b.config_mut();
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .retain(|m| m["destination"] != "/proc");
            c["linux"]["maskedPaths"] = json!([]);
            c["linux"]["readonlyPaths"] = json!([]);
            c["linux"]["sysctl"] = json!({"kernel.hostname": "pwned"});
        }
        fs::create_dir_all(b.rootfs().join("proc/sys")).unwrap();
        if variant.starts_with("symlink") {
            b.add_bind_mount(&host, "/hostsys", false);
            symlink("/hostsys", b.rootfs().join("proc/sys/kernel")).unwrap();
        } else {
            fs::create_dir_all(b.rootfs().join("proc/sys/kernel")).unwrap();
            fs::write(b.rootfs().join("proc/sys/kernel/hostname"), "image").unwrap();
        }
        b.set_args(&["true"]);
        let out = env.run(&mut b, &env.new_id());
        assert_eq!(out.code, 1, "{variant}: {}", out.describe());
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
        assert!(
            out.stderr.contains("linux.sysctl.kernel.hostname") && out.stderr.contains("procfs"),
            "{variant}: {}",
            out.describe()
        );
        assert_eq!(read_lossy(&host.join("hostname")), "original", "{variant}");
        if !variant.starts_with("symlink") {
            assert_eq!(
                read_lossy(&b.rootfs().join("proc/sys/kernel/hostname")),
                "image"
            );
        }
    }
    assert_no_leaks(&before, &Snapshot::take(&env));
}

/// Devices the config does not allow: with CAP_MKNOD a container can make
/// a node for the host's disk (mknod is allowed for any device, as in
/// runc), but the device cgroup refuses to open it.
#[test]
fn device_cgroup_refuses_devices_the_config_does_not_allow() {
    require_root!();
    let env = Env::new("devcgroup");
    // The host's first real block device, or sda's numbers.
    let disk = dir_entries(Path::new("/sys/block"))
        .into_iter()
        .filter(|d| !d.starts_with("loop") && !d.starts_with("zram") && !d.starts_with("ram"))
        .find_map(|d| fs::read_to_string(format!("/sys/block/{d}/dev")).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "8:0".into());
    let (major, minor) = disk.split_once(':').unwrap();
    let mut b = Bundle::new(&env);
    b.add_capability("CAP_MKNOD");
    b.set_sh(&format!(
        "mknod /tmp/disk b {major} {minor} && echo made; \
         if head -c 512 /tmp/disk > /dev/null; then echo read-disk; else echo disk-denied; fi; \
         mknod /tmp/mem c 1 1 && echo made-mem; \
         if head -c 1 /tmp/mem > /dev/null; then echo read-mem; else echo mem-denied; fi; \
         mknod /tmp/null c 1 3 && echo x > /tmp/null && echo null-ok"
    ));
    let out = env.run(&mut b, &env.new_id()).ok();
    for want in [
        "made\n",
        "disk-denied\n",
        "made-mem\n",
        "mem-denied\n",
        "null-ok\n",
    ] {
        assert!(
            out.stdout.contains(want),
            "want {want:?}: {}",
            out.describe()
        );
    }
    assert!(
        out.stderr.contains("Operation not permitted"),
        "{}",
        out.describe()
    );
}

/// no_new_privs: a setuid-root binary in the image run by uid 1000 stays
/// uid 1000. (busybox drops setuid privileges by itself, so the probe is a
/// tiny static C program; without a C compiler the test is skipped.)
#[test]
fn setuid_binary_gains_nothing_under_no_new_privileges() {
    require_root!();
    let env = Env::new("nnpsuid");
    let mut b = Bundle::new(&env);
    let src = env.dir().join("ids.c");
    fs::write(
        &src,
        "#include <stdio.h>\n#include <unistd.h>\nint main(void) {\n\
         printf(\"ruid=%d euid=%d\\n\", (int)getuid(), (int)geteuid()); return 0; }\n",
    )
    .unwrap();
    let exe = b.rootfs().join("bin/ids");
    let cc = std::process::Command::new("cc")
        .args(["-static", "-O1", "-o"])
        .arg(&exe)
        .arg(&src)
        .status();
    if !matches!(cc, Ok(s) if s.success()) {
        eprintln!("SKIPPED: no C compiler with static libc to build the setuid probe");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&exe, fs::Permissions::from_mode(0o4755)).unwrap();
    b.set_user(1000, 1000, &[]).set_args(&["/bin/ids"]);
    // Control: without no_new_privs the setuid bit works in this rootfs.
    b.config_mut()["process"]["noNewPrivileges"] = json!(false);
    let out = env.run(&mut b, &env.new_id()).ok();
    assert!(
        out.stdout.contains("ruid=1000 euid=0"),
        "{}",
        out.describe()
    );
    b.config_mut()["process"]["noNewPrivileges"] = json!(true);
    let out = env.run(&mut b, &env.new_id()).ok();
    assert!(
        out.stdout.contains("ruid=1000 euid=1000"),
        "{}",
        out.describe()
    );
}
