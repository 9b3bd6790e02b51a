//! Security settings: capabilities, no_new_privs, masked and read-only
//! paths, read-only rootfs.

use integration_tests::*;

#[test]
fn capabilities_match_the_config() {
    require_root!();
    let env = Env::new("caps");
    let caps = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_AUDIT_WRITE",
    ];
    let mut b = Bundle::new(&env);
    b.set_capabilities(&caps)
        .set_args(&["grep", "^Cap", "/proc/self/status"]);
    let out = env.run(&mut b, &env.new_id()).ok();
    let want = cap_mask(&caps);
    assert_eq!(
        status_field(&out.stdout, "CapEff"),
        Some(want.clone()),
        "{}",
        out.stdout
    );
    assert_eq!(
        status_field(&out.stdout, "CapPrm"),
        Some(want.clone()),
        "{}",
        out.stdout
    );
    assert_eq!(
        status_field(&out.stdout, "CapBnd"),
        Some(want),
        "{}",
        out.stdout
    );
    assert_eq!(
        status_field(&out.stdout, "CapInh"),
        Some(cap_mask(&[])),
        "{}",
        out.stdout
    );
    assert_eq!(
        status_field(&out.stdout, "CapAmb"),
        Some(cap_mask(&[])),
        "{}",
        out.stdout
    );

    // The spec's default set (whatever it is) is applied too.
    let mut b = Bundle::new(&env);
    let default_bnd: Vec<String> = b.config()["process"]["capabilities"]["bounding"]
        .as_array()
        .expect("berth spec has process.capabilities.bounding")
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let default_bnd: Vec<&str> = default_bnd.iter().map(String::as_str).collect();
    b.set_args(&["grep", "^CapBnd", "/proc/self/status"]);
    let out = env.run(&mut b, &env.new_id()).ok();
    assert_eq!(
        status_field(&out.stdout, "CapBnd"),
        Some(cap_mask(&default_bnd)),
        "{}",
        out.stdout
    );
}

#[test]
fn no_new_privileges() {
    require_root!();
    let env = Env::new("nnp");
    let mut b = Bundle::new(&env);
    b.set_args(&["grep", "NoNewPrivs", "/proc/self/status"]);
    b.config_mut()["process"]["noNewPrivileges"] = serde_json::json!(true);
    let out = env.run(&mut b, &env.new_id()).ok();
    assert_eq!(
        status_field(&out.stdout, "NoNewPrivs").as_deref(),
        Some("1"),
        "{}",
        out.stdout
    );

    b.config_mut()["process"]["noNewPrivileges"] = serde_json::json!(false);
    let out = env.run(&mut b, &env.new_id()).ok();
    assert_eq!(
        status_field(&out.stdout, "NoNewPrivs").as_deref(),
        Some("0"),
        "{}",
        out.stdout
    );
}

#[test]
fn masked_and_readonly_paths() {
    require_root!();
    let env = Env::new("masked");
    // Masked files and a masked directory that have content on the host
    // (/proc/kcore is masked too, but this kernel may not have it: a missing
    // masked path must be skipped).
    let files = ["/proc/timer_list", "/proc/keys"];
    for f in files {
        let n = std::fs::read(f).map(|v| v.len()).unwrap_or(0);
        assert!(n > 0, "host {f} is empty: pick another masked file");
    }
    assert!(!dir_entries(std::path::Path::new("/sys/firmware")).is_empty());
    let mut b = Bundle::new(&env);
    let cfg = b.config_mut();
    cfg["linux"]["maskedPaths"] = serde_json::json!([
        "/proc/kcore",
        "/proc/timer_list",
        "/proc/keys",
        "/sys/firmware"
    ]);
    cfg["linux"]["readonlyPaths"] = serde_json::json!(["/proc/sys"]);
    // With CAP_SYS_ADMIN, writing our own (namespaced) hostname through
    // /proc/sys would succeed if /proc/sys were not read-only.
    b.add_capability("CAP_SYS_ADMIN").set_sh(
        "for f in /proc/timer_list /proc/keys; do echo $f=$(cat $f | wc -c); done; \
         echo firmware=$(ls -A /sys/firmware | wc -l); \
         if echo changed > /proc/sys/kernel/hostname; then echo sys-writable; else echo sys-ro; fi; \
         echo hostname=$(hostname); grep ' /proc/sys ' /proc/self/mountinfo",
    );
    let out = env.run(&mut b, &env.new_id()).ok();
    for f in files {
        assert!(
            out.stdout.contains(&format!("{f}=0\n")),
            "{f} not masked: {}",
            out.describe()
        );
    }
    assert!(out.stdout.contains("firmware=0\n"), "{}", out.describe());
    assert!(out.stdout.contains("sys-ro\n"), "{}", out.describe());
    assert!(
        out.stdout.contains("hostname=berth-test\n"),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.describe()
    );
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains(" /proc/sys "))
        .unwrap_or_else(|| panic!("/proc/sys is not a mount point:\n{}", out.describe()));
    let opts: Vec<&str> = line.split(' ').nth(5).unwrap_or("").split(',').collect();
    assert!(opts.contains(&"ro"), "/proc/sys mount options: {line}");
}

#[test]
fn readonly_rootfs() {
    require_root!();
    let env = Env::new("rorootfs");
    let mut b = Bundle::new(&env);
    b.set_readonly_root(true).set_sh("touch /x");
    let out = env.run(&mut b, &env.new_id());
    assert_ne!(out.code, 0, "touch /x succeeded on a read-only rootfs");
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.describe()
    );
    assert!(!b.rootfs().join("x").exists());

    // The same with a writable root succeeds.
    b.set_readonly_root(false).set_sh("touch /x && echo wrote");
    let out = env.run(&mut b, &env.new_id()).ok();
    assert!(out.stdout.contains("wrote"));
    assert!(b.rootfs().join("x").exists());
}
