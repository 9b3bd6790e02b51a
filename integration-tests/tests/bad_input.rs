//! Bad input: each is refused by both `create` and `run` with exit code 1 and
//! a one-line `berth: ...` message naming the problem, and leaves nothing
//! behind (no state entry, mount, process, cgroup or fd).

use integration_tests::*;
use serde_json::json;
use std::fs;
use std::path::Path;

/// Words of a message, split at anything that is not a letter or digit.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// `create` and `run` with this bundle and ID must both be rejected.
#[track_caller]
fn expect_rejected(env: &Env, bundle: &Path, id: &str, what: &str, check: impl Fn(&str) -> bool) {
    let b = bundle.display().to_string();
    for cmd in ["create", "run"] {
        let before = Snapshot::take(env);
        let out = env.berth(&[cmd, "--bundle", &b, id]);
        let shown = format!("berth {cmd} with {what}:\n{}", out.describe());
        assert_eq!(out.code, 1, "{shown}");
        assert!(out.stdout.is_empty(), "stdout should be empty: {shown}");
        assert_eq!(out.stderr.lines().count(), 1, "one line of stderr: {shown}");
        assert!(out.stderr.starts_with("berth: "), "{shown}");
        assert!(
            check(&out.stderr),
            "the message does not name the problem: {shown}"
        );
        assert_no_leaks(&before, &Snapshot::take(env));
    }
}

fn mentions_id(msg: &str) -> bool {
    words(msg).iter().any(|w| w == "id")
}

#[test]
fn invalid_container_ids() {
    require_root!();
    let env = Env::exclusive("badid");
    let mut b = Bundle::new(&env);
    b.set_args(&["true"]);
    env.prepare(&mut b, &env.new_id());
    // A NUL byte cannot be passed through argv, so it needs no test here.
    for id in ["", "a/b", "..", ".", "../escape"] {
        expect_rejected(&env, b.path(), id, &format!("ID {id:?}"), mentions_id);
    }
    let long = "x".repeat(1025);
    expect_rejected(&env, b.path(), &long, "a 1025-byte ID", |m| {
        mentions_id(m) && (m.contains("long") || m.contains("1024") || m.contains("length"))
    });
    // Nothing escaped the root dir either.
    assert!(!env.dir().join("escape").exists());
    assert!(!env.root().join("a").exists());
}

#[test]
fn id_already_in_use() {
    require_root!();
    let env = Env::exclusive("idinuse");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "30"]);
    let id = env.new_id();
    env.create(&mut b, &id).ok();
    let st = env.state(&id).unwrap();
    expect_rejected(&env, b.path(), &id, "an ID in use", |m| {
        m.contains("exist") || m.contains("in use") || m.contains("already")
    });
    // The existing container is untouched.
    let st2 = env.state(&id).expect("the first container is gone");
    assert_eq!(st2["status"], "created", "{st2}");
    assert_eq!(st2["pid"], st["pid"]);
    assert!(pid_alive(st["pid"].as_i64().unwrap()));
    env.berth(&["delete", "--force", &id]).ok();
}

#[test]
fn missing_bundle_dir() {
    require_root!();
    let env = Env::exclusive("nobundle");
    let missing = env.dir().join("no-such-bundle");
    let m = missing.display().to_string();
    expect_rejected(&env, &missing, &env.new_id(), "a missing bundle", |s| {
        s.contains(&m)
    });
}

#[test]
fn missing_config_json() {
    require_root!();
    let env = Env::exclusive("noconfig");
    let b = Bundle::new(&env);
    fs::remove_file(b.path().join("config.json")).unwrap();
    expect_rejected(&env, b.path(), &env.new_id(), "no config.json", |s| {
        s.contains("config.json")
    });
}

#[test]
fn missing_rootfs() {
    require_root!();
    let env = Env::exclusive("norootfs");
    let mut b = Bundle::new(&env);
    b.set_args(&["true"]);
    env.prepare(&mut b, &env.new_id());
    fs::remove_dir_all(b.rootfs()).unwrap();
    expect_rejected(&env, b.path(), &env.new_id(), "no rootfs", |s| {
        s.contains("rootfs")
    });
}

#[test]
fn malformed_json_names_line_and_column() {
    require_root!();
    let env = Env::exclusive("badjson");
    let b = Bundle::new(&env);
    fs::write(
        b.path().join("config.json"),
        "{\n  \"ociVersion\": \"1.0.2\",\n  \"process\": {,\n    \"args\": [\"true\"]\n  }\n}\n",
    )
    .unwrap();
    expect_rejected(&env, b.path(), &env.new_id(), "malformed JSON", |s| {
        s.contains("line 3") && s.contains("column")
    });
}

#[test]
fn unsupported_oci_version() {
    require_root!();
    let env = Env::exclusive("ociver");
    let mut b = Bundle::new(&env);
    b.set_args(&["true"]);
    b.config_mut()["ociVersion"] = json!("2.0.0");
    env.prepare(&mut b, &env.new_id());
    expect_rejected(&env, b.path(), &env.new_id(), "ociVersion 2.0.0", |s| {
        s.contains("2.0.0")
    });
}

#[test]
fn unknown_namespace_type() {
    require_root!();
    let env = Env::exclusive("nsfoo");
    let mut b = Bundle::new(&env);
    b.set_args(&["true"]).add_namespace("foo");
    env.prepare(&mut b, &env.new_id());
    expect_rejected(&env, b.path(), &env.new_id(), "namespace type foo", |s| {
        s.contains("foo")
    });
}

#[test]
fn duplicate_namespace() {
    require_root!();
    let env = Env::exclusive("nsdup");
    let mut b = Bundle::new(&env);
    b.set_args(&["true"]);
    b.config_mut()["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "type": "pid" }));
    env.prepare(&mut b, &env.new_id());
    expect_rejected(&env, b.path(), &env.new_id(), "two pid namespaces", |s| {
        let w = words(s);
        w.iter().any(|w| w.starts_with("namespace") || w == "ns") && s.contains("pid")
    });
}

#[test]
fn user_namespace_without_uid_mappings() {
    require_root!();
    let env = Env::exclusive("nouidmap");
    let mut b = Bundle::new(&env);
    b.set_args(&["true"]).add_namespace("user");
    let linux = b.config_mut()["linux"].as_object_mut().unwrap();
    linux.remove("uidMappings");
    linux.remove("gidMappings");
    env.prepare(&mut b, &env.new_id());
    expect_rejected(
        &env,
        b.path(),
        &env.new_id(),
        "a user ns without mappings",
        |s| {
            let s = s.to_ascii_lowercase();
            s.contains("uid") && s.contains("mapping")
        },
    );
}
