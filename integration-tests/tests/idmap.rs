//! Idmapped mounts: mounts[].uidMappings/gidMappings and the idmap/ridmap
//! options. The bind sources live in the test's directory under /tmp (ext4
//! here) and, for ridmap, on a tmpfs mounted below one of them.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::{require_root, Bundle, Env};
use serde_json::{json, Value};

fn owned_file(dir: &Path, name: &str, uid: u32, gid: u32) {
    let p = dir.join(name);
    fs::write(&p, name).unwrap();
    std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
}

/// A 0777 directory in the test dir holding files owned by 0:0 and 1000:1000.
fn source_dir(env: &Env, name: &str) -> PathBuf {
    let dir = env.dir().join(name);
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    owned_file(&dir, "f0", 0, 0);
    owned_file(&dir, "f1000", 1000, 1000);
    dir
}

fn push_mount(b: &mut Bundle, m: Value) {
    let mounts = &mut b.config_mut()["mounts"];
    if !mounts.is_array() {
        *mounts = json!([]);
    }
    mounts.as_array_mut().unwrap().push(m);
}

fn map(container: u32, host: u32, size: u32) -> Value {
    json!([{"containerID": container, "hostID": host, "size": size}])
}

/// A container with its own user namespace: container 0 is host 100000.
fn userns_bundle(env: &Env) -> Bundle {
    let mut b = Bundle::new(env);
    b.chown_rootfs(100000, 100000);
    b.add_namespace("user");
    b.config_mut()["linux"]["uidMappings"] = map(0, 100000, 65536);
    b.config_mut()["linux"]["gidMappings"] = map(0, 100000, 65536);
    b
}

fn host_owner(p: &Path) -> String {
    let md = fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    format!("{}:{}", md.uid(), md.gid())
}

#[test]
fn idmap_takes_the_container_mappings_in_a_user_namespace() {
    require_root!();
    let env = Env::new("idmapuserns");
    let src = source_dir(&env, "src");
    let mut b = userns_bundle(&env);
    let s = src.display().to_string();
    push_mount(
        &mut b,
        json!({"destination": "/data", "type": "bind", "source": s, "options": ["rbind", "idmap"]}),
    );
    // The same directory without idmap, for contrast.
    push_mount(
        &mut b,
        json!({"destination": "/plain", "type": "bind", "source": s, "options": ["rbind"]}),
    );
    // Other options still apply to an idmapped mount.
    push_mount(
        &mut b,
        json!({"destination": "/ro", "type": "bind", "source": s,
               "options": ["bind", "idmap", "ro", "nosuid"]}),
    );
    b.set_sh(
        "stat -c '%n %u:%g' /data/f0 /data/f1000 /plain/f1000 /ro/f1000; \
         echo new > /data/made-inside && echo wrote; \
         touch /ro/x 2>&1; grep ' /ro ' /proc/self/mounts; echo fds $(ls /proc/self/fd)",
    );
    let out = env.run(&mut b, &env.new_id());
    assert_eq!(out.code, 0, "{}", out.describe());
    // On-disk 1000 is container 1000 through the mount, not "nobody".
    assert!(out.stdout.contains("/data/f0 0:0"), "{}", out.describe());
    assert!(
        out.stdout.contains("/data/f1000 1000:1000"),
        "{}",
        out.describe()
    );
    assert!(
        out.stdout.contains("/plain/f1000 65534:65534"),
        "{}",
        out.describe()
    );
    assert!(out.stdout.contains("wrote"), "{}", out.describe());
    assert!(
        out.stdout.contains("/ro/f1000 1000:1000"),
        "{}",
        out.describe()
    );
    assert!(
        out.stdout.contains("Read-only file system"),
        "{}",
        out.describe()
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains(" /ro ") && l.contains("ro,") && l.contains("nosuid")),
        "{}",
        out.describe()
    );
    // No mount fd reached the process (ls opens fd 3 itself).
    assert!(out.stdout.contains("fds 0 1 2 3\n"), "{}", out.describe());
    // Container root (host 100000) writes as on-disk root through the mount.
    assert_eq!(host_owner(&src.join("made-inside")), "0:0");
}

#[test]
fn explicit_mount_mappings_without_a_user_namespace() {
    require_root!();
    let env = Env::new("idmapexplicit");
    let src = source_dir(&env, "src");
    let mut b = Bundle::new(&env);
    push_mount(
        &mut b,
        json!({"destination": "/data", "type": "bind", "source": src.display().to_string(),
               "options": ["bind"],
               "uidMappings": map(1000, 2000, 1), "gidMappings": map(1000, 3000, 1)}),
    );
    // A directory of on-disk 1000 (mode 0755): only its owner may write.
    let w = src.join("w1000");
    fs::create_dir(&w).unwrap();
    std::os::unix::fs::chown(&w, Some(1000), Some(1000)).unwrap();
    b.set_user(2000, 3000, &[]);
    b.set_sh("stat -c '%n %u:%g' /data/f1000 /data/f0; echo x > /data/w1000/by-2000 && echo wrote");
    let out = env.run(&mut b, &env.new_id());
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(
        out.stdout.contains("/data/f1000 2000:3000"),
        "{}",
        out.describe()
    );
    // Outside the mapping: the overflow id.
    assert!(
        out.stdout.contains("/data/f0 65534:65534"),
        "{}",
        out.describe()
    );
    assert!(out.stdout.contains("wrote"), "{}", out.describe());
    // uid 2000 in the container is on-disk 1000 through the mapping.
    assert_eq!(host_owner(&w.join("by-2000")), "1000:1000");
}

/// A tmpfs mounted (by the test) below a directory; unmounted on drop.
struct TmpfsBelow(PathBuf);

impl TmpfsBelow {
    fn new(dir: &Path) -> TmpfsBelow {
        fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "mode=0777", "berth-idmap-test"])
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount tmpfs on {}", dir.display());
        TmpfsBelow(dir.to_path_buf())
    }
}

impl Drop for TmpfsBelow {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn ridmap_maps_submounts_and_idmap_only_the_top() {
    require_root!();
    let env = Env::new("ridmap");
    let src = source_dir(&env, "src");
    let sub = TmpfsBelow::new(&src.join("sub"));
    owned_file(&sub.0, "g1000", 1000, 1000);
    let mut b = userns_bundle(&env);
    let s = src.display().to_string();
    push_mount(
        &mut b,
        json!({"destination": "/r", "type": "bind", "source": s, "options": ["rbind", "ridmap"]}),
    );
    push_mount(
        &mut b,
        json!({"destination": "/i", "type": "bind", "source": s, "options": ["rbind", "idmap"]}),
    );
    b.set_sh("stat -c '%n %u:%g' /r/f1000 /r/sub/g1000 /i/f1000 /i/sub/g1000");
    let out = env.run(&mut b, &env.new_id());
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(
        out.stdout.contains("/r/f1000 1000:1000"),
        "{}",
        out.describe()
    );
    assert!(
        out.stdout.contains("/r/sub/g1000 1000:1000"),
        "{}",
        out.describe()
    );
    assert!(
        out.stdout.contains("/i/f1000 1000:1000"),
        "{}",
        out.describe()
    );
    // idmap leaves the submount as it is: unmapped in this user namespace.
    assert!(
        out.stdout.contains("/i/sub/g1000 65534:65534"),
        "{}",
        out.describe()
    );
    drop(sub);
}

#[test]
fn filesystem_without_idmap_support_is_a_clear_error() {
    require_root!();
    let env = Env::new("idmapnosupport");
    let mut b = Bundle::new(&env);
    // procfs does not support idmapped mounts.
    push_mount(
        &mut b,
        json!({"destination": "/hostproc", "type": "bind", "source": "/proc", "options": ["bind"],
               "uidMappings": map(0, 1000, 1), "gidMappings": map(0, 1000, 1)}),
    );
    let id = env.new_id();
    let out = env.create(&mut b, &id);
    assert_ne!(out.code, 0, "{}", out.describe());
    let n = b.config()["mounts"].as_array().unwrap().len() - 1;
    assert!(
        out.stderr.contains(&format!("mounts[{n}]"))
            && out.stderr.contains("does not support idmapped mounts"),
        "{}",
        out.describe()
    );
    env.assert_nothing_left("after the refused create");
}

#[test]
fn idmapped_mount_reaches_init_through_the_helper() {
    require_root!();
    // The path a multi-threaded embedder takes: the mount fd is passed to the
    // exec'd `berth init` helper instead of being inherited.
    let env = Env::new("idmaphelper");
    let src = source_dir(&env, "src");
    let mut b = userns_bundle(&env);
    let out_dir = env.shared_dir(&mut b, "/out");
    push_mount(
        &mut b,
        json!({"destination": "/data", "type": "bind", "source": src.display().to_string(),
               "options": ["bind", "idmap"]}),
    );
    b.set_sh("stat -c '%u:%g' /data/f1000 > /out/owner; ls /proc/self/fd > /out/fds");
    let id = env.new_id();
    env.prepare(&mut b, &id);
    let c = berth::ContainerBuilder::new(&id, b.path())
        .root(env.root())
        .init_binary(integration_tests::berth_bin())
        .force_helper(true)
        .create()
        .expect("create through the helper");
    c.start().expect("start");
    assert_eq!(c.wait().expect("wait"), 0);
    c.delete(false).expect("delete");
    assert_eq!(
        integration_tests::read_lossy(&out_dir.join("owner")).trim(),
        "1000:1000"
    );
    // The mount fd went no further than init (ls opens fd 3 itself).
    let fds = integration_tests::read_lossy(&out_dir.join("fds"));
    assert_eq!(
        fds.split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2", "3"],
        "{fds}"
    );
}

#[test]
fn features_claim_idmapped_mounts() {
    let out = Command::new(integration_tests::berth_bin())
        .arg("features")
        .output()
        .expect("run berth features");
    let v: Value = serde_json::from_slice(&out.stdout).expect("features JSON");
    // This host runs Linux 6.x: mount_setattr(MOUNT_ATTR_IDMAP) exists.
    assert_eq!(
        v["linux"]["mountExtensions"]["idmap"]["enabled"],
        json!(true),
        "{v}"
    );
    let opts = v["mountOptions"].as_array().expect("mountOptions");
    assert!(opts.contains(&json!("idmap")) && opts.contains(&json!("ridmap")));
}
