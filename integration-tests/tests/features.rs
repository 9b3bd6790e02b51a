//! `berth features` checked claim by claim against what berth does on this
//! host: every namespace, capability, mount option, seccomp action,
//! operator, architecture and flag it lists works in a real container; the
//! cgroup, AppArmor, SELinux and idmap claims match what berth accepts or
//! refuses.

use integration_tests::*;
use serde_json::{json, Value};
use std::path::Path;

fn features(env: &Env) -> Value {
    let out = env.berth(&["features"]);
    assert_eq!(out.code, 0, "{}", out.describe());
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("features JSON ({e}): {}", out.stdout))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// Runs a container made by `edit` (a shell script by default) and returns
/// its output.
fn run_with(env: &Env, script: &str, edit: impl FnOnce(&mut Bundle)) -> Out {
    let mut b = Bundle::new(env);
    b.set_sh(script);
    edit(&mut b);
    let id = env.new_id();
    env.run(&mut b, &id)
}

/// Asserts that every claim passes `check` (each one tried, failures listed).
fn all_work(what: &str, claims: &[String], mut check: impl FnMut(&str) -> Result<(), String>) {
    assert!(!claims.is_empty(), "features lists no {what}");
    let failed: Vec<String> = claims
        .iter()
        .filter_map(|c| check(c).err().map(|e| format!("{c}: {e}")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} {what} listed by `berth features` do not work:\n{}",
        failed.len(),
        claims.len(),
        failed.join("\n")
    );
}

fn ok_or_describe(out: &Out) -> Result<(), String> {
    if out.code == 0 {
        Ok(())
    } else {
        Err(out.describe())
    }
}

#[test]
fn every_namespace_listed_can_be_created() {
    require_root!();
    let env = Env::new("featns");
    let f = features(&env);
    all_work("namespaces", &strings(&f["linux"]["namespaces"]), |ns| {
        let file = match ns {
            "mount" => "mnt",
            "network" => "net",
            other => other,
        };
        let out = run_with(&env, &format!("readlink /proc/self/ns/{file}"), |b| {
            b.add_namespace(ns);
            if ns == "user" {
                b.chown_rootfs(100000, 100000);
                let map = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
                b.config_mut()["linux"]["uidMappings"] = map.clone();
                b.config_mut()["linux"]["gidMappings"] = map;
            }
        });
        ok_or_describe(&out)?;
        if out.stdout.trim() == host_ns(file) || !out.stdout.contains(file) {
            return Err(format!("not a new {ns} namespace: {}", out.stdout.trim()));
        }
        Ok(())
    });
}

#[test]
fn every_capability_listed_is_granted_and_others_are_refused() {
    require_root!();
    let env = Env::new("featcaps");
    let f = features(&env);
    let listed = strings(&f["linux"]["capabilities"]);
    let names: Vec<&str> = listed.iter().map(String::as_str).collect();
    let out = run_with(&env, "grep -E '^Cap(Eff|Bnd)' /proc/self/status", |b| {
        b.set_capabilities(&names);
    });
    assert_eq!(out.code, 0, "all listed capabilities: {}", out.describe());
    let status = out.stdout.clone();
    let want = cap_mask(&names);
    for field in ["CapEff", "CapBnd"] {
        assert_eq!(
            status_field(&status, field).as_deref(),
            Some(want.as_str()),
            "{field} with every listed capability: {status}"
        );
    }
    // A capability the kernel knows but features leaves out (this host
    // withholds CAP_SYS_RESOURCE) cannot be granted: refused, named.
    let last: usize = read_lossy(Path::new("/proc/sys/kernel/cap_last_cap"))
        .trim()
        .parse()
        .unwrap_or(CAPABILITIES.len() - 1);
    for cap in CAPABILITIES.iter().take(last + 1) {
        if listed.iter().any(|l| l == cap) {
            continue;
        }
        let out = run_with(&env, "true", |b| {
            b.set_capabilities(&[cap]);
        });
        assert_eq!(out.code, 1, "{cap} is not listed but: {}", out.describe());
        assert!(out.stderr.contains(cap), "{cap}: {}", out.describe());
    }
    // A name no kernel knows.
    let out = run_with(&env, "true", |b| {
        b.set_capabilities(&["CAP_BERTH_BOGUS"]);
    });
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stderr.contains("CAP_BERTH_BOGUS"), "{}", out.describe());
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}

#[test]
fn every_mount_option_listed_is_accepted() {
    require_root!();
    let env = Env::new("featmnt");
    let f = features(&env);
    let src = env.dir().join("bindsrc");
    std::fs::create_dir_all(&src).unwrap();
    all_work("mount options", &strings(&f["mountOptions"]), |opt| {
        // Bind options need a bind mount, idmap options a bind mount with
        // mappings; the others go on a tmpfs.
        let bind = opt == "bind" || opt == "rbind";
        let idmap = opt == "idmap" || opt == "ridmap";
        let out = run_with(&env, "grep ' /mnt/x ' /proc/self/mounts", |b| {
            let m = if bind {
                json!({"destination": "/mnt/x", "type": "bind",
                       "source": src.display().to_string(), "options": [opt]})
            } else if idmap {
                let map = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
                json!({"destination": "/mnt/x", "type": "bind",
                       "source": src.display().to_string(), "options": ["rbind", opt],
                       "uidMappings": map, "gidMappings": map})
            } else {
                json!({"destination": "/mnt/x", "type": "tmpfs", "source": "tmpfs",
                       "options": [opt]})
            };
            b.config_mut()["mounts"].as_array_mut().unwrap().push(m);
        });
        ok_or_describe(&out)?;
        if out.stdout.trim().is_empty() {
            return Err("no mount at /mnt/x".into());
        }
        Ok(())
    });
}

/// A profile allowing everything but `rule` (on acct, which busybox's
/// `true` never calls).
fn seccomp_run(env: &Env, profile: Value) -> Out {
    run_with(env, "echo ran", |b| {
        b.config_mut()["linux"]["seccomp"] = profile;
    })
}

fn ran(out: &Out) -> Result<(), String> {
    ok_or_describe(out)?;
    if out.stdout.trim() == "ran" {
        Ok(())
    } else {
        Err(out.describe())
    }
}

#[test]
fn every_seccomp_claim_compiles_and_loads() {
    require_root!();
    let env = Env::new("featseccomp");
    let f = features(&env);
    let s = &f["linux"]["seccomp"];
    assert_eq!(s["enabled"], json!(true));
    let sock = env.dir().join("notify.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    listener.set_nonblocking(true).unwrap();
    let notify_profile = |extra: Value| {
        let mut p = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock.display().to_string(),
            "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_NOTIFY"}]
        });
        if let (Some(p), Some(e)) = (p.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        p
    };
    all_work("seccomp actions", &strings(&s["actions"]), |action| {
        let profile = if action == "SCMP_ACT_NOTIFY" {
            notify_profile(json!({}))
        } else {
            json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["acct"], "action": action, "errnoRet": 1}]
            })
        };
        ran(&seccomp_run(&env, profile))
    });
    all_work("seccomp operators", &strings(&s["operators"]), |op| {
        ran(&seccomp_run(
            &env,
            json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_ERRNO",
                              "args": [{"index": 0, "value": 1, "valueTwo": 1, "op": op}]}]
            }),
        ))
    });
    all_work("seccomp architectures", &strings(&s["archs"]), |arch| {
        ran(&seccomp_run(
            &env,
            json!({
                "defaultAction": "SCMP_ACT_ALLOW", "architectures": [arch],
                "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_ERRNO"}]
            }),
        ))
    });
    // supportedFlags load on this kernel; knownFlags must include them.
    let known = strings(&s["knownFlags"]);
    all_work("seccomp flags", &strings(&s["supportedFlags"]), |flag| {
        if !known.iter().any(|k| k == flag) {
            return Err("supported but not in knownFlags".into());
        }
        // The kernel takes WAIT_KILLABLE_RECV only with a listener.
        let profile = if flag == "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV" {
            notify_profile(json!({"flags": [flag]}))
        } else {
            json!({
                "defaultAction": "SCMP_ACT_ALLOW", "flags": [flag],
                "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_ERRNO"}]
            })
        };
        ran(&seccomp_run(&env, profile))
    });
    drop(listener);
}

#[test]
fn cgroup_claims_match_what_berth_does() {
    require_root!();
    let env = Env::new("featcg");
    let f = features(&env);
    let cg = &f["linux"]["cgroup"];
    let v1_host = Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists();
    // v1: berth drives the v1 hierarchies of this host.
    if v1_host {
        assert_eq!(cg["v1"], json!(true), "{cg}");
        let id = env.new_id();
        let mut b = Bundle::new(&env);
        b.set_sh("cat /proc/self/cgroup");
        let out = env.run(&mut b, &id);
        assert_eq!(out.code, 0, "{}", out.describe());
        assert!(
            out.stdout.lines().any(|l| l.contains(":memory:")),
            "not in a v1 memory cgroup: {}",
            out.describe()
        );
    } else {
        eprintln!("SKIPPED (v1 part): no v1 memory hierarchy on this host");
    }
    // v2 is compiled in; it is exercised in the QEMU guest lane
    // (conformance/cgroupv2), this host's cgroup2 has no controllers.
    assert_eq!(cg["v2"], json!(true), "{cg}");
    // The systemd driver: claimed only if --systemd-cgroup works.
    let mut b = Bundle::new(&env);
    b.set_args(&["true"]);
    let id = env.new_id();
    env.prepare(&mut b, &id);
    let bp = b.path().display().to_string();
    let out = env.berth(&["--systemd-cgroup", "run", "--bundle", &bp, &id]);
    for key in ["systemd", "systemdUser"] {
        if cg[key] == json!(true) {
            assert_eq!(out.code, 0, "{key} claimed: {}", out.describe());
        } else {
            assert_eq!(out.code, 1, "{key} not claimed: {}", out.describe());
            assert!(
                out.stderr.contains("--systemd-cgroup"),
                "{}",
                out.describe()
            );
        }
    }
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}

#[test]
fn lsm_and_idmap_claims_match_the_host() {
    require_root!();
    let env = Env::new("featlsm");
    let f = features(&env);
    let linux = &f["linux"];
    let apparmor = read_lossy(Path::new("/sys/module/apparmor/parameters/enabled"))
        .starts_with('Y')
        && Path::new("/sys/kernel/security/apparmor").exists();
    let selinux = Path::new("/sys/fs/selinux/enforce").exists();
    assert_eq!(linux["apparmor"]["enabled"], json!(apparmor), "{linux}");
    assert_eq!(linux["selinux"]["enabled"], json!(selinux), "{linux}");
    for (enabled, field, value) in [
        (apparmor, "apparmorProfile", "berth-test"),
        (selinux, "selinuxLabel", "system_u:system_r:container_t:s0"),
    ] {
        if enabled {
            eprintln!("SKIPPED ({field}): enabled on this host");
            continue;
        }
        let out = run_with(&env, "true", |b| {
            b.config_mut()["process"][field] = json!(value);
        });
        assert_eq!(out.code, 1, "{field}: {}", out.describe());
        assert!(
            out.stderr.contains(&format!("process.{field}")),
            "{}",
            out.describe()
        );
    }
    // idmapped mounts: work when claimed, refused when not.
    let src = env.dir().join("idmapsrc");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("f"), "x").unwrap();
    let out = run_with(&env, "stat -c %u /mnt/x/f", |b| {
        b.add_namespace("user");
        b.chown_rootfs(100000, 100000);
        let map = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
        b.config_mut()["linux"]["uidMappings"] = map.clone();
        b.config_mut()["linux"]["gidMappings"] = map.clone();
        b.config_mut()["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({
                "destination": "/mnt/x", "type": "bind", "source": src.display().to_string(),
                "options": ["rbind", "idmap"], "uidMappings": map, "gidMappings": map
            }));
    });
    if linux["mountExtensions"]["idmap"]["enabled"] == json!(true) {
        assert_eq!(out.code, 0, "idmap claimed: {}", out.describe());
        assert_eq!(out.stdout.trim(), "0", "idmapped owner: {}", out.describe());
    } else {
        assert_eq!(out.code, 1, "idmap not claimed: {}", out.describe());
        assert!(out.stderr.contains("mounts["), "{}", out.describe());
    }
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}

#[test]
fn every_memory_policy_listed_is_applied() {
    require_root!();
    let env = Env::new("featmpol");
    let f = features(&env);
    let mp = &f["linux"]["memoryPolicy"];
    if mp.is_null() {
        eprintln!("SKIPPED: features claims no memoryPolicy");
        return;
    }
    // The kernel's mode names, as /proc/<pid>/numa_maps prints them.
    let shown = |mode: &str| match mode {
        "MPOL_DEFAULT" | "MPOL_LOCAL" => None,
        "MPOL_PREFERRED" => Some("prefer:0"),
        "MPOL_BIND" => Some("bind:0"),
        "MPOL_INTERLEAVE" => Some("interleave:0"),
        "MPOL_PREFERRED_MANY" => Some("prefer (many):0"),
        "MPOL_WEIGHTED_INTERLEAVE" => Some("weighted interleave:0"),
        _ => None,
    };
    let takes_nodes = |mode: &str| !matches!(mode, "MPOL_DEFAULT" | "MPOL_LOCAL");
    all_work("memory policy modes", &strings(&mp["modes"]), |mode| {
        let out = run_with(&env, "head -n1 /proc/self/numa_maps", |b| {
            let mut p = json!({"mode": mode});
            if takes_nodes(mode) {
                p["nodes"] = json!("0");
            }
            b.config_mut()["linux"]["memoryPolicy"] = p;
        });
        ok_or_describe(&out)?;
        match shown(mode) {
            Some(s) if !out.stdout.contains(s) => Err(format!("numa_maps: {}", out.stdout.trim())),
            _ => Ok(()),
        }
    });
    all_work("memory policy flags", &strings(&mp["flags"]), |flag| {
        let out = run_with(&env, "true", |b| {
            b.config_mut()["linux"]["memoryPolicy"] =
                json!({"mode": "MPOL_BIND", "nodes": "0", "flags": [flag]});
        });
        ok_or_describe(&out)
    });
}

/// One runtime-spec version everywhere: `features`' ociVersionMax, the
/// ociVersion `spec` writes and the one `state` reports are all 1.3.0, the
/// release that brought the newest fields berth applies (linux.netDevices,
/// linux.memoryPolicy). runc 1.1.5 prints 1.0.2-dev in all three.
#[test]
fn spec_state_and_features_name_the_same_runtime_spec_version() {
    require_root!();
    let env = Env::new("ociversion");
    let f = features(&env);
    assert_eq!(f["ociVersionMin"], "1.0.0", "{f}");
    assert_eq!(f["ociVersionMax"], "1.3.0", "{f}");
    let mut b = Bundle::new(&env);
    assert_eq!(
        b.config()["ociVersion"],
        "1.3.0",
        "berth spec wrote {}",
        b.config()
    );
    b.set_args(&["sleep", "30"]);
    let id = env.new_id();
    env.create(&mut b, &id).ok();
    let st = env.state(&id).expect("state after create");
    assert_eq!(st["ociVersion"], "1.3.0", "state: {st}");
    env.berth(&["delete", "--force", &id]).ok();
}
