//! linux.netDevices: host interfaces moved into the container's network
//! namespace. Each test makes its own interfaces with unique names and
//! removes them.

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use integration_tests::{require_root, wait_for_file, Bundle, Env};
use serde_json::json;

const T: Duration = Duration::from_secs(20);

fn ip(args: &[&str]) -> (bool, String) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn host_has(name: &str) -> bool {
    ip(&["link", "show", "dev", name]).0
}

/// A test interface on the host, removed on drop (wherever it ended up
/// under its host name).
struct Iface {
    name: String,
}

impl Iface {
    /// A dummy interface, or one end of a veth pair where this kernel has
    /// no dummy driver; up, with `addr`.
    fn new(tag: &str, addr: &str) -> Iface {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let name = format!("bd{tag}{:x}{n}", std::process::id() & 0xfffff);
        assert!(
            name.len() <= 13,
            "{name}: too long for IFNAMSIZ with a peer suffix"
        );
        if !ip(&["link", "add", &name, "type", "dummy"]).0 {
            eprintln!("note: no dummy driver in this kernel; using a veth pair for {name}");
            let peer = format!("{name}p");
            let (ok, text) = ip(&["link", "add", &name, "type", "veth", "peer", "name", &peer]);
            assert!(ok, "ip link add {name}: {text}");
        }
        let iface = Iface { name };
        let (ok, text) = ip(&["addr", "add", addr, "dev", &iface.name]);
        assert!(ok, "ip addr add: {text}");
        let (ok, text) = ip(&["link", "set", &iface.name, "up"]);
        assert!(ok, "ip link set up: {text}");
        iface
    }
}

impl Drop for Iface {
    fn drop(&mut self) {
        let _ = ip(&["link", "del", &self.name]);
    }
}

#[test]
fn device_moves_in_renamed_with_its_address_and_back_on_delete() {
    require_root!();
    let env = Env::new("netdevmove");
    let dev = Iface::new("m", "10.199.71.7/24");
    let mut b = Bundle::new(&env);
    let out = env.shared_dir(&mut b, "/out");
    b.config_mut()["linux"]["netDevices"] = json!({ dev.name.clone(): {"name": "ctr0"} });
    b.set_sh(
        "{ ls /sys/class/net; ip -o -4 addr show dev ctr0; ip -o link show dev ctr0; echo done; } \
         > /out/net 2>&1; sleep 60",
    );
    let id = env.new_id();
    env.create(&mut b, &id).ok();
    assert!(!host_has(&dev.name), "{} is still on the host", dev.name);
    env.berth(&["start", &id]).ok();
    let seen = wait_for_file(&out.join("net"), "done", T);
    let names: Vec<&str> = seen.lines().take_while(|l| !l.contains(':')).collect();
    assert!(names.contains(&"ctr0"), "/sys/class/net inside: {seen}");
    assert!(
        !seen.contains(&dev.name),
        "the host name shows inside: {seen}"
    );
    assert!(
        seen.contains("inet 10.199.71.7/24"),
        "address inside: {seen}"
    );
    assert!(seen.contains(",UP"), "ctr0 is not up inside: {seen}");

    env.berth(&["delete", "--force", &id]).ok();
    let (ok, link) = ip(&["link", "show", "dev", &dev.name]);
    assert!(ok, "{} did not come back to the host: {link}", dev.name);
    assert!(link.contains("state DOWN"), "back, but not down: {link}");
    assert!(!host_has("ctr0"), "the container's name leaked to the host");
    env.assert_nothing_left("after delete");
}

#[test]
fn device_keeps_its_name_when_none_is_given_and_goes_with_the_namespace() {
    require_root!();
    let env = Env::new("netdevexit");
    let dev = Iface::new("x", "10.199.72.7/24");
    let mut b = Bundle::new(&env);
    b.config_mut()["linux"]["netDevices"] = json!({ dev.name.clone(): {} });
    b.set_sh(&format!("ip -o -4 addr show dev {}", dev.name));
    let out = env.run(&mut b, &env.new_id());
    assert_eq!(out.code, 0, "{}", out.describe());
    assert!(
        out.stdout.contains("inet 10.199.72.7/24"),
        "{}",
        out.describe()
    );
    // The container exited, so its network namespace is gone before
    // delete: the kernel destroyed the virtual device with it, as the spec
    // describes.
    assert!(
        !host_has(&dev.name),
        "a virtual device outlived the container's namespace"
    );
    assert!(
        env.root_entries().is_empty(),
        "state left: {:?}",
        env.root_entries()
    );
}

#[test]
fn bad_net_devices_are_clear_errors_and_leave_the_host_as_it_was() {
    require_root!();
    let env = Env::new("netdevbad");
    let create_fails = |b: &mut Bundle, needle: &str| {
        let id = env.new_id();
        let out = env.create(b, &id);
        assert_ne!(out.code, 0, "{}", out.describe());
        assert!(
            out.stderr.contains(needle),
            "want {needle:?}: {}",
            out.describe()
        );
        env.assert_nothing_left(needle);
    };

    // A device the host does not have.
    let mut b = Bundle::new(&env);
    b.config_mut()["linux"]["netDevices"] = json!({"bdnosuchdev0": {}});
    create_fails(&mut b, "linux.netDevices.bdnosuchdev0: no network device");

    // No network namespace of the container's own.
    let dev = Iface::new("b", "10.199.73.7/24");
    let mut b = Bundle::new(&env);
    b.remove_namespace("network");
    b.config_mut()["linux"]["netDevices"] = json!({ dev.name.clone(): {} });
    create_fails(
        &mut b,
        "linux.netDevices: moving devices needs a network namespace",
    );
    assert!(host_has(&dev.name));

    // Names the kernel refuses.
    for (name, field) in [
        ("a/b", "linux.netDevices.a/b".to_string()),
        ("..", "linux.netDevices.a.name".to_string()),
        ("sixteen-bytes-xx", "linux.netDevices.a.name".to_string()),
    ] {
        let mut b = Bundle::new(&env);
        let devs = if name == "a/b" {
            json!({"a/b": {}})
        } else {
            json!({"a": {"name": name}})
        };
        b.config_mut()["linux"]["netDevices"] = devs;
        create_fails(&mut b, &field);
    }

    // A bridge cannot leave its namespace: the device moved before it comes
    // back with its address and up.
    let bridge = format!("bdbr{:x}", std::process::id() & 0xfffff);
    let (ok, text) = ip(&["link", "add", &bridge, "type", "bridge"]);
    assert!(ok, "{text}");
    let _bridge = Iface {
        name: bridge.clone(),
    };
    // Sorted by host name, "bdb…" (the test device) moves before "bdbr…".
    let mut b = Bundle::new(&env);
    b.config_mut()["linux"]["netDevices"] = json!({ dev.name.clone(): {}, bridge.clone(): {} });
    create_fails(&mut b, &format!("linux.netDevices.{bridge}"));
    let (_, addr) = ip(&["-o", "addr", "show", "dev", &dev.name]);
    assert!(
        addr.contains("10.199.73.7/24"),
        "address not restored: {addr}"
    );
    let (_, link) = ip(&["-o", "link", "show", "dev", &dev.name]);
    assert!(link.contains(",UP"), "not up again: {link}");

    // A failing createRuntime hook (after the move, before init is ready).
    let mut b = Bundle::new(&env);
    b.config_mut()["linux"]["netDevices"] = json!({ dev.name.clone(): {"name": "ctr0"} });
    b.config_mut()["hooks"] = json!({"createRuntime": [{"path": "/bin/false"}]});
    create_fails(&mut b, "createRuntime");
    assert!(
        host_has(&dev.name),
        "the device died with the failed container"
    );

    // create failing after init is ready (an unwritable --pid-file): the
    // device comes back before init and its namespace go.
    let mut b = Bundle::new(&env);
    b.config_mut()["linux"]["netDevices"] = json!({ dev.name.clone(): {"name": "ctr0"} });
    let id = env.new_id();
    env.prepare(&mut b, &id);
    let bundle = b.path().display().to_string();
    let pid_file = env.dir().join("no-such-dir/pid").display().to_string();
    let out = env.berth(&["create", "--bundle", &bundle, "--pid-file", &pid_file, &id]);
    assert_ne!(out.code, 0, "{}", out.describe());
    assert!(out.stderr.contains("pid file"), "{}", out.describe());
    assert!(
        host_has(&dev.name),
        "the device died with the failed container"
    );
    assert!(
        env.root_entries().is_empty(),
        "state left: {:?}",
        env.root_entries()
    );
}

#[test]
fn features_claim_net_devices() {
    let out = Command::new(integration_tests::berth_bin())
        .arg("features")
        .output()
        .expect("run berth features");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("features JSON");
    assert_eq!(v["linux"]["netDevices"]["enabled"], json!(true), "{v}");
}

#[test]
fn name_template_takes_free_numbers_and_devices_come_back() {
    require_root!();
    let env = Env::new("netdevtmpl");
    let a = Iface::new("t", "10.199.74.7/24");
    let b_dev = Iface::new("t", "10.199.75.7/24");
    let mut b = Bundle::new(&env);
    let out = env.shared_dir(&mut b, "/out");
    b.config_mut()["linux"]["netDevices"] = json!({
        a.name.clone(): {"name": "net%d"},
        b_dev.name.clone(): {"name": "net%d"},
    });
    b.set_sh("{ ip -o -4 addr show; echo done; } > /out/net 2>&1; sleep 60");
    let id = env.new_id();
    env.create(&mut b, &id).ok();
    env.berth(&["start", &id]).ok();
    let seen = wait_for_file(&out.join("net"), "done", T);
    // Numbers go in the order of the host names.
    let (first, second) = if a.name < b_dev.name {
        ("10.199.74.7/24", "10.199.75.7/24")
    } else {
        ("10.199.75.7/24", "10.199.74.7/24")
    };
    assert!(
        seen.lines()
            .any(|l| l.contains("net0") && l.contains(first)),
        "{seen}"
    );
    assert!(
        seen.lines()
            .any(|l| l.contains("net1") && l.contains(second)),
        "{seen}"
    );
    env.berth(&["delete", "--force", &id]).ok();
    assert!(host_has(&a.name), "{} did not come back", a.name);
    assert!(host_has(&b_dev.name), "{} did not come back", b_dev.name);
}

/// A network namespace held by a `sleep` we start (killed by pid on drop).
struct HeldNetns {
    child: std::process::Child,
}

impl HeldNetns {
    fn new() -> HeldNetns {
        let child = Command::new("unshare")
            .args(["-n", "sleep", "120"])
            .spawn()
            .expect("unshare -n sleep");
        let h = HeldNetns { child };
        // Wait until the sleep runs in its own namespace.
        let host = std::fs::read_link("/proc/self/ns/net").unwrap();
        for _ in 0..200 {
            if std::fs::read_link(h.path()).is_ok_and(|l| l != host) {
                return h;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("unshare -n did not enter a new network namespace");
    }

    fn path(&self) -> String {
        format!("/proc/{}/ns/net", self.child.id())
    }

    fn ip(&self, args: &[&str]) -> (bool, String) {
        let pid = self.child.id().to_string();
        let mut all = vec!["-t", &pid, "-n", "ip"];
        all.extend_from_slice(args);
        let out = Command::new("nsenter")
            .args(&all)
            .output()
            .expect("nsenter");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    }
}

impl Drop for HeldNetns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn join_netns(b: &mut Bundle, path: &str) {
    b.remove_namespace("network");
    b.config_mut()["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "network", "path": path}));
}

#[test]
fn joined_namespace_devices_come_back_and_its_own_stay() {
    require_root!();
    let env = Env::new("netdevjoin");
    let ns = HeldNetns::new();
    // A device of the joined namespace's own, with the name asked for below.
    let (ok, text) = ns.ip(&["link", "add", "jx0", "type", "veth", "peer", "name", "jx0p"]);
    assert!(ok, "{text}");

    // The host device is missing: create fails and must not touch jx0.
    let missing = format!("bdmiss{:x}", std::process::id() & 0xfffff);
    let mut b = Bundle::new(&env);
    join_netns(&mut b, &ns.path());
    b.config_mut()["linux"]["netDevices"] = json!({ missing.clone(): {"name": "jx0"} });
    let id = env.new_id();
    let out = env.create(&mut b, &id);
    assert_ne!(out.code, 0, "{}", out.describe());
    assert!(
        out.stderr.contains("no network device"),
        "{}",
        out.describe()
    );
    assert!(
        ns.ip(&["link", "show", "jx0"]).0,
        "jx0 left the joined namespace"
    );
    assert!(
        !host_has(&missing),
        "a device of the joined namespace came to the host"
    );

    // A real one: it outlives the container in the joined namespace, and
    // delete brings it back although init is gone.
    let dev = Iface::new("j", "10.199.76.7/24");
    let mut b = Bundle::new(&env);
    join_netns(&mut b, &ns.path());
    b.config_mut()["linux"]["netDevices"] = json!({ dev.name.clone(): {"name": "ctr0"} });
    b.set_sh("ip -o -4 addr show dev ctr0");
    let id = env.new_id();
    env.create(&mut b, &id).ok();
    env.berth(&["start", &id]).ok();
    env.wait_status(&id, "stopped", T);
    let (ok, inside) = ns.ip(&["-o", "-4", "addr", "show", "dev", "ctr0"]);
    assert!(ok && inside.contains("10.199.76.7/24"), "{inside}");
    env.berth(&["delete", &id]).ok();
    assert!(host_has(&dev.name), "{} did not come back", dev.name);
    assert!(
        !ns.ip(&["link", "show", "ctr0"]).0,
        "ctr0 stayed in the joined namespace"
    );
    assert!(
        ns.ip(&["link", "show", "jx0"]).0,
        "jx0 left the joined namespace"
    );
}
