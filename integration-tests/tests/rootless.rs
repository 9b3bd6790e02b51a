//! Rootless: an unprivileged user runs the bundle `berth spec --rootless`
//! writes, in a user namespace mapping root to that user.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use integration_tests::{berth_bin, make_rootfs, require_root, Env};

const USER: &str = "berth-rootless";

/// The test user's uid and gid, creating the account if needed.
fn test_user() -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, USER]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if id("-u").is_none() {
        let status = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                USER,
            ])
            .status()
            .ok()?;
        if !status.success() {
            return None;
        }
    }
    Some((id("-u")?, id("-g")?))
}

fn as_user(
    uid: u32,
    gid: u32,
    runtime_dir: &Path,
    dir: &Path,
    args: &[&str],
) -> (i32, String, String) {
    let out = Command::new(berth_bin())
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("XDG_RUNTIME_DIR", runtime_dir)
        .uid(uid)
        .gid(gid)
        .output()
        .expect("run berth as the test user");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn unprivileged_user_runs_the_rootless_spec() {
    require_root!();
    let Some((uid, gid)) = test_user() else {
        eprintln!("SKIPPED: could not create the test user {USER} (useradd failed)");
        return;
    };
    let env = Env::new("rootless");
    // A world-traversable place the user owns.
    let base = Path::new("/tmp").join(format!("berth-rootless-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let bundle = base.join("bundle");
    let runtime_dir = base.join("run");
    std::fs::create_dir_all(&bundle).unwrap();
    std::fs::create_dir_all(&runtime_dir).unwrap();
    make_rootfs(&bundle.join("rootfs"));
    for p in [&base, &bundle, &runtime_dir] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let chown = Command::new("chown")
        .args(["-R", &format!("{uid}:{gid}")])
        .arg(&base)
        .status()
        .unwrap();
    assert!(chown.success());
    std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700)).unwrap();

    let (code, _, err) = as_user(uid, gid, &runtime_dir, &bundle, &["spec", "--rootless"]);
    assert_eq!(code, 0, "spec --rootless: {err}");
    let config_path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    assert_eq!(config["linux"]["uidMappings"][0]["hostID"], uid);
    config["process"]["terminal"] = false.into();
    config["process"]["args"] = serde_json::json!([
        "sh",
        "-c",
        "id -u; cat /proc/self/uid_map; echo pid=$$; hostname"
    ]);
    std::fs::write(&config_path, config.to_string()).unwrap();

    let id = env.new_id();
    let (code, out, err) = as_user(uid, gid, &runtime_dir, &bundle, &["run", &id]);
    let _cleanup = Cleanup(&base);
    assert_eq!(code, 0, "run as {USER}: stdout {out} stderr {err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "root inside: {out}");
    let map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(map, ["0", &uid.to_string(), "1"], "{out}");
    assert_eq!(lines[2], "pid=1", "{out}");
    assert_eq!(lines[3], "berth", "{out}");
    // The state lived under the user's runtime dir and is gone.
    let state_root = runtime_dir.join("berth");
    let left: Vec<_> = std::fs::read_dir(&state_root)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "state left behind: {left:?}");
}

/// Removes the test's directory however the test ends.
struct Cleanup<'a>(&'a Path);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0);
    }
}
