//! A catalogue of hostile and broken bundles and commands.
//!
//! Each case of [`REJECTED`] must make `berth create` (and, for most, `berth
//! run`) exit with code 1 and one line of stderr, `berth: ...`, that names
//! the offending field or value, without echoing megabytes of it back; and
//! leave nothing behind: no state dir, mount, cgroup, process or fd.
//!
//! The cases of `contained_*` are accepted (or fail cleanly) but must not
//! reach outside the container's root. `fuzz_corpus_replays` feeds the fuzz
//! corpus through the fuzz targets' own functions (no nightly needed).

use integration_tests::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod fuzz_lib;

/// What a case changes besides the config.
#[derive(Default)]
struct Prep {
    /// Use this container ID instead of a fresh one.
    id: Option<String>,
    /// Extra arguments before `--bundle`.
    extra: Vec<String>,
    /// Write these bytes as config.json instead of the (edited) config.
    raw: Option<Vec<u8>>,
    /// Replace config.json by something that is not a file.
    special: Option<fn(&Path)>,
    /// The message must contain this instead of the case's needle.
    needle: Option<String>,
    /// A hook writes its pid here: it must be gone after berth returns.
    hook_pid_file: Option<PathBuf>,
}

struct Case {
    name: &'static str,
    /// The message must contain this (the field, or the offending value).
    needle: &'static str,
    /// Which of `create` and `run` to try.
    cmds: &'static [&'static str],
    setup: fn(&Env, &mut Value, &mut Prep),
}

const fn case(
    name: &'static str,
    needle: &'static str,
    setup: fn(&Env, &mut Value, &mut Prep),
) -> Case {
    Case {
        name,
        needle,
        cmds: &["create", "run"],
        setup,
    }
}

const fn create_only(
    name: &'static str,
    needle: &'static str,
    setup: fn(&Env, &mut Value, &mut Prep),
) -> Case {
    Case {
        name,
        needle,
        cmds: &["create"],
        setup,
    }
}

/// Fails only once the process is exec'd, which `create` does not do yet.
const fn run_only(
    name: &'static str,
    needle: &'static str,
    setup: fn(&Env, &mut Value, &mut Prep),
) -> Case {
    Case {
        name,
        needle,
        cmds: &["run"],
        setup,
    }
}

/// Appends a mount; the message must name `mounts[N].<field>`.
fn push_mount(c: &mut Value, p: &mut Prep, m: Value, field: &str) {
    let mounts = c["mounts"].as_array_mut().expect("mounts");
    mounts.push(m);
    p.needle = Some(format!("mounts[{}].{field}", mounts.len() - 1));
}

fn nested(depth: usize) -> String {
    "[".repeat(depth) + &"]".repeat(depth)
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

fn add_user_ns(c: &mut Value) {
    c["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
}

/// A hook that records its pid in the test dir, then waits.
fn hanging_hook(env: &Env, p: &mut Prep) -> Value {
    let pid_file = env.dir().join("hook.pid");
    let _ = fs::remove_file(&pid_file);
    p.hook_pid_file = Some(pid_file.clone());
    json!({
        "path": BUSYBOX,
        "args": ["busybox", "sh", "-c",
                 format!("echo $$ > {}; exec {BUSYBOX} sleep 100", pid_file.display())],
        "timeout": 1
    })
}

const REJECTED: &[Case] = &[
    // --- container IDs
    case("id with a space", "id", |_, _, p| p.id = Some("a b".into())),
    case("id with a newline", "id", |_, _, p| {
        p.id = Some("a\nb".into())
    }),
    case("id with a terminal escape", "id", |_, _, p| {
        p.id = Some("\u{1b}[31mred".into())
    }),
    case("id with non-ASCII letters", "id", |_, _, p| {
        p.id = Some("conteneur-été".into())
    }),
    case("id with path traversal", "id", |_, _, p| {
        p.id = Some("../../etc".into())
    }),
    case("id of 1025 bytes", "id", |_, _, p| {
        p.id = Some("x".repeat(1025))
    }),
    // --- config.json itself
    case("config.json is a FIFO", "config.json", |_, _, p| {
        p.special = Some(mkfifo)
    }),
    case(
        "config.json is a symlink to /dev/zero",
        "config.json",
        |_, _, p| p.special = Some(|path| symlink("/dev/zero", path).unwrap()),
    ),
    case("config.json is a directory", "config.json", |_, _, p| {
        p.special = Some(|path| fs::create_dir(path).unwrap())
    }),
    case("config.json of 17 MiB", "config.json", |_, c, p| {
        let mut text = c.to_string();
        text.push_str(&" ".repeat(17 << 20));
        p.raw = Some(text.into_bytes());
    }),
    case("config.json is empty", "config.json", |_, _, p| {
        p.raw = Some(vec![])
    }),
    case("config.json is truncated", "line 1", |_, c, p| {
        let text = c.to_string();
        p.raw = Some(text.as_bytes()[..text.len() / 2].to_vec());
    }),
    case("config.json is not UTF-8", "UTF-8", |_, _, p| {
        p.raw = Some(b"{\"ociVersion\": \"1.0.\xff\"}".to_vec())
    }),
    case(
        "config.json starts with a BOM",
        "line 1 column 1",
        |_, c, p| p.raw = Some(format!("\u{feff}{c}").into_bytes()),
    ),
    case("a duplicate key", "duplicate field", |_, c, p| {
        let text = c.to_string();
        p.raw = Some(format!("{{\"hostname\": \"a\", {}", &text[1..]).into_bytes());
    }),
    case(
        "100000 nested arrays as the document",
        "config.json",
        |_, _, p| p.raw = Some(nested(100_000).into_bytes()),
    ),
    case(
        "100000 nested arrays in an unknown field, then no args",
        "process.args",
        |_, c, p| {
            c["process"]["args"] = json!([]);
            let text = c.to_string();
            p.raw = Some(format!("{{\"x-deep\": {}, {}", nested(100_000), &text[1..]).into_bytes());
        },
    ),
    case(
        "100000 nested objects in an unknown field, then no args",
        "process.args",
        |_, c, p| {
            c["process"]["args"] = json!([]);
            let text = c.to_string();
            let deep = "{\"a\":".repeat(100_000) + "1" + &"}".repeat(100_000);
            p.raw = Some(format!("{{\"x-deep\": {deep}, {}", &text[1..]).into_bytes());
        },
    ),
    // --- root
    case("no root", "root", |_, c, _| {
        c.as_object_mut().unwrap().remove("root");
    }),
    case("empty root.path", "root.path", |_, c, _| {
        c["root"]["path"] = json!("")
    }),
    case(
        "root.path escaping the bundle to nowhere",
        "root.path",
        |_, c, _| c["root"]["path"] = json!("../../../../../../nonexistent-berth-root"),
    ),
    case("root.path is a file", "root.path", |_, c, _| {
        c["root"]["path"] = json!("rootfs/bin/busybox")
    }),
    case("root.path with a NUL byte", "root.path", |_, c, _| {
        c["root"]["path"] = json!("root\u{0}fs")
    }),
    // --- process
    case("no process", "process", |_, c, _| {
        c.as_object_mut().unwrap().remove("process");
    }),
    case("empty args", "process.args", |_, c, _| {
        c["process"]["args"] = json!([])
    }),
    case("args of the wrong type", "process.args", |_, c, _| {
        c["process"]["args"] = json!("sh -c true")
    }),
    case("args with a NUL byte", "process.args[0]", |_, c, _| {
        c["process"]["args"] = json!(["tr\u{0}ue"])
    }),
    run_only(
        "args of 4 MB (E2BIG)",
        "Argument list too long",
        |_, c, _| {
            let big = "x".repeat(100_000);
            let mut args = vec![json!("true")];
            args.extend((0..40).map(|_| json!(big)));
            c["process"]["args"] = Value::Array(args);
        },
    ),
    case(
        "an executable that does not exist",
        "/nonexistent",
        |_, c, _| c["process"]["args"] = json!(["/nonexistent"]),
    ),
    case("relative cwd", "process.cwd", |_, c, _| {
        c["process"]["cwd"] = json!("tmp")
    }),
    case("env entry without =", "process.env[1]", |_, c, _| {
        c["process"]["env"] = json!(["A=1", "JUNK"])
    }),
    case("negative uid", "process.user.uid", |_, c, _| {
        c["process"]["user"]["uid"] = json!(-1)
    }),
    case("uid above 2^32", "process.user.uid", |_, c, _| {
        c["process"]["user"]["uid"] = json!(1u64 << 40)
    }),
    case("fractional uid", "process.user.uid", |_, c, _| {
        c["process"]["user"]["uid"] = json!(1.5)
    }),
    case("unknown rlimit", "process.rlimits[0].type", |_, c, _| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}])
    }),
    case("rlimit soft above hard", "process.rlimits[0]", |_, c, _| {
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}])
    }),
    case(
        "rlimit above the host's hard limit",
        "process.rlimits[0]",
        |_, c, _| {
            c["process"]["rlimits"] =
                json!([{"type": "RLIMIT_NOFILE", "soft": 1u64 << 30, "hard": 1u64 << 30}])
        },
    ),
    case(
        "unknown capability",
        "process.capabilities.bounding: no variant for CAP_FOO",
        |_, c, _| c["process"]["capabilities"]["bounding"] = json!(["CAP_FOO"]),
    ),
    case(
        "unknown scheduler policy",
        "process.scheduler.policy",
        |_, c, _| c["process"]["scheduler"] = json!({"policy": "SCHED_FOO"}),
    ),
    case(
        "I/O priority out of range",
        "process.ioPriority.priority",
        |_, c, _| c["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 9}),
    ),
    case(
        "oomScoreAdj out of range",
        "process.oomScoreAdj",
        |_, c, _| c["process"]["oomScoreAdj"] = json!(5000),
    ),
    case(
        "AppArmor profile without AppArmor",
        "process.apparmorProfile",
        |_, c, _| c["process"]["apparmorProfile"] = json!("berth-nope"),
    ),
    // --- host and domain names
    case("hostname of 100 kB", "hostname", |_, c, _| {
        c["hostname"] = json!("h".repeat(100_000))
    }),
    case("hostname without a uts namespace", "hostname", |_, c, _| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != "uts");
    }),
    // --- mounts
    case("relative mount destination", "mounts[", |_, c, p| {
        push_mount(
            c,
            p,
            json!({"destination": "tmp/x", "type": "tmpfs", "source": "tmpfs"}),
            "destination",
        )
    }),
    case("mount over /", "mounts[", |_, c, p| {
        push_mount(
            c,
            p,
            json!({"destination": "/", "type": "tmpfs", "source": "tmpfs"}),
            "destination",
        )
    }),
    case("mount over / through ..", "mounts[", |_, c, p| {
        push_mount(
            c,
            p,
            json!({"destination": "/tmp/../..", "type": "tmpfs", "source": "tmpfs"}),
            "destination",
        )
    }),
    case("tmpfs over /proc/sys/kernel", "mounts[", |_, c, p| {
        push_mount(
            c,
            p,
            json!({"destination": "/proc/sys/kernel", "type": "tmpfs", "source": "tmpfs"}),
            "destination",
        )
    }),
    case("bind over /proc/self/exe", "mounts[", |_, c, p| {
        push_mount(
            c,
            p,
            json!({"destination": "/proc/self/exe", "type": "bind",
                                "source": "/etc/hostname", "options": ["bind"]}),
            "destination",
        )
    }),
    case(
        "a file bound over /proc/sys/kernel/core_pattern",
        "mounts[",
        |env, c, p| {
            let f = env.dir().join("fake_core_pattern");
            fs::write(&f, "|/evil").unwrap();
            push_mount(
                c,
                p,
                json!({"destination": "/proc/sys/kernel/core_pattern", "type": "bind",
                                "source": f, "options": ["bind", "rw"]}),
                "destination",
            )
        },
    ),
    case(
        "/proc mounted as tmpfs",
        "mounts[0].destination",
        |_, c, _| {
            c["mounts"][0] = json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"})
        },
    ),
    case(
        "/proc bound from a plain directory",
        "mounts[0].destination",
        |env, c, _| {
            c["mounts"][0] = json!({"destination": "/proc", "type": "bind",
                                "source": env.dir(), "options": ["rbind"]})
        },
    ),
    case("mount destination with a NUL byte", "mounts[", |_, c, p| {
        push_mount(
            c,
            p,
            json!({"destination": "/a\u{0}b", "type": "tmpfs", "source": "tmpfs"}),
            "destination",
        )
    }),
    case("mount source with a NUL byte", "mounts[", |_, c, p| {
        push_mount(
            c,
            p,
            json!({"destination": "/x", "type": "bind", "source": "/tm\u{0}p",
                                "options": ["rbind"]}),
            "source",
        )
    }),
    case(
        "bind of a missing source",
        "/nonexistent-berth-src",
        |_, c, _| {
            c["mounts"]
                .as_array_mut()
                .unwrap()
                .push(json!({"destination": "/x", "type": "bind",
            "source": "/nonexistent-berth-src", "options": ["rbind"]}))
        },
    ),
    case("unknown filesystem type", "/x-unknown-fs", |_, c, _| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/x-unknown-fs",
            "type": "berthfs", "source": "none"}))
    }),
    case("mount type of the wrong JSON type", "mounts[", |_, c, p| {
        push_mount(
            c,
            p,
            json!({"destination": "/x", "type": 5, "source": "x"}),
            "type",
        )
    }),
    case("idmapped mount that is not a bind", "mounts[", |_, c, p| {
        push_mount(
            c,
            p,
            json!({"destination": "/x", "type": "tmpfs", "source": "tmpfs",
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
            "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}),
            "uidMappings",
        )
    }),
    case(
        "idmapped mount with uid but no gid mappings",
        "mounts[",
        |_, c, p| {
            push_mount(
                c,
                p,
                json!({"destination": "/x", "type": "bind", "source": "/tmp",
            "options": ["rbind"], "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}),
                "gidMappings",
            )
        },
    ),
    case(
        "idmap without mappings or a user namespace",
        "mounts[",
        |_, c, p| {
            push_mount(
                c,
                p,
                json!({"destination": "/x", "type": "bind", "source": "/tmp",
            "options": ["rbind", "idmap"]}),
                "options",
            )
        },
    ),
    // --- linux
    case("no linux section", "linux", |_, c, _| {
        c.as_object_mut().unwrap().remove("linux");
    }),
    case("unknown namespace type", "linux.namespaces[", |_, c, _| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "foo"}))
    }),
    case("a namespace twice", "linux.namespaces[", |_, c, _| {
        c["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "ipc"}))
    }),
    case("domainname of 100 kB", "domainname", |_, c, _| {
        c["domainname"] = json!("d".repeat(100_000))
    }),
    case(
        "namespace path that does not exist",
        "linux.namespaces[",
        |_, c, _| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["type"] != "network");
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "network", "path": "/proc/self/ns/nonexistent"}))
        },
    ),
    case(
        "namespace path that is a plain file",
        "/etc/passwd",
        |_, c, _| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["type"] != "network");
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "network", "path": "/etc/passwd"}))
        },
    ),
    case(
        "namespace path of another type",
        "/proc/1/ns/pid",
        |_, c, _| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["type"] != "network");
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "network", "path": "/proc/1/ns/pid"}))
        },
    ),
    case(
        "user namespace without gid mappings",
        "linux.gidMappings",
        |_, c, _| {
            add_user_ns(c);
            c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 1000}]);
        },
    ),
    case(
        "mappings without a user namespace",
        "linux.uidMappings",
        |_, c, _| {
            c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 1000}]);
            c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 1000}]);
        },
    ),
    case("uid mapping of size 0", "linux.uidMappings", |_, c, _| {
        add_user_ns(c);
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 0}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 1000}]);
    }),
    case(
        "user not mapped in the user namespace",
        "process.user.uid",
        |_, c, _| {
            add_user_ns(c);
            c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 10}]);
            c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 10}]);
            c["process"]["user"] = json!({"uid": 500, "gid": 0});
        },
    ),
    case("host sysctl", "linux.sysctl.vm.swappiness", |_, c, _| {
        c["linux"]["sysctl"] = json!({"vm.swappiness": "0"})
    }),
    case(
        "sysctl name with path traversal",
        "linux.sysctl.",
        |_, c, _| c["linux"]["sysctl"] = json!({"kernel/../../../etc/shadow": "x"}),
    ),
    case(
        "net sysctl without a network namespace",
        "linux.sysctl.net",
        |_, c, _| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|n| n["type"] != "network");
            c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
        },
    ),
    case("device outside /dev", "linux.devices[0].path", |_, c, _| {
        c["linux"]["devices"] =
            json!([{"path": "/etc/shadow", "type": "c", "major": 1, "minor": 3}])
    }),
    case("device of type a", "linux.devices[0].type", |_, c, _| {
        c["linux"]["devices"] = json!([{"path": "/dev/foo", "type": "a", "major": 1, "minor": 3}])
    }),
    case(
        "unknown rootfsPropagation",
        "linux.rootfsPropagation",
        |_, c, _| c["linux"]["rootfsPropagation"] = json!("sideways"),
    ),
    case("cgroupsPath with ..", "linux.cgroupsPath", |_, c, _| {
        c["linux"]["cgroupsPath"] = json!("/berth-test/../../../escape")
    }),
    case(
        "negative memory limit",
        "linux.resources.memory.limit",
        |_, c, _| c["linux"]["resources"]["memory"] = json!({"limit": -5}),
    ),
    case(
        "unknown seccomp action",
        "linux.seccomp.defaultAction",
        |_, c, _| c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_FOO"}),
    ),
    case(
        "unknown seccomp architecture",
        "linux.seccomp.architectures",
        |_, c, _| {
            c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW",
                                        "architectures": ["SCMP_ARCH_NOPE"]})
        },
    ),
    case(
        "seccomp argument index 7",
        "linux.seccomp.syscalls[0].args[0].index",
        |_, c, _| {
            c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]})
        },
    ),
    case(
        "unknown seccomp operator",
        "linux.seccomp.syscalls[0].args[0].op",
        |_, c, _| {
            c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 1, "value": 1, "op": "SCMP_CMP_FOO"}]}]})
        },
    ),
    case(
        "unknown personality domain",
        "linux.personality.domain",
        |_, c, _| c["linux"]["personality"] = json!({"domain": "LINUX64"}),
    ),
    case(
        "time offsets without a time namespace",
        "linux.timeOffsets",
        |_, c, _| c["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 1}}),
    ),
    // --- hooks
    case("relative hook path", "hooks.prestart[0].path", |_, c, _| {
        c["hooks"] = json!({"prestart": [{"path": "bin/true"}]})
    }),
    case(
        "hook timeout of 0",
        "hooks.prestart[0].timeout",
        |_, c, _| c["hooks"] = json!({"prestart": [{"path": "/bin/true", "timeout": 0}]}),
    ),
    case(
        "hook that does not exist",
        "hooks.prestart[0]",
        |_, c, _| c["hooks"] = json!({"prestart": [{"path": "/nonexistent-berth-hook"}]}),
    ),
    case("hook that fails", "hooks.createRuntime[0]", |_, c, _| {
        c["hooks"] = json!({"createRuntime": [{"path": BUSYBOX, "args": ["busybox", "false"]}]})
    }),
    case(
        "hook that hangs (timeout 1s)",
        "hooks.prestart[0]",
        |env, c, p| c["hooks"] = json!({"prestart": [hanging_hook(env, p)]}),
    ),
    // --- command line
    create_only(
        "console socket that does not exist",
        "console",
        |env, c, p| {
            c["process"]["terminal"] = json!(true);
            p.extra = vec![
                "--console-socket".into(),
                env.dir().join("no-such.sock").display().to_string(),
            ];
        },
    ),
    create_only(
        "pid file in a missing directory",
        "pid file",
        |env, _, p| {
            p.extra = vec![
                "--pid-file".into(),
                env.dir().join("no/such/dir/pid").display().to_string(),
            ];
        },
    ),
];

#[track_caller]
fn check_rejected(env: &Env, bundle: &Bundle, case: &Case, cmd: &str, prep: &Prep, id: &str) {
    let b = bundle.path().display().to_string();
    let mut args: Vec<&str> = vec![cmd];
    args.extend(prep.extra.iter().map(String::as_str));
    args.extend(["--bundle", &b, id]);
    let before = Snapshot::take(env);
    let out = env.berth_timeout(&args, Duration::from_secs(60));
    let shown = format!("case {:?}, berth {cmd}:\n{}", case.name, out.describe());
    assert_eq!(out.code, 1, "{shown}");
    assert!(out.stdout.is_empty(), "stdout: {shown}");
    assert_eq!(out.stderr.lines().count(), 1, "one line: {shown}");
    assert!(out.stderr.starts_with("berth: "), "{shown}");
    assert!(
        out.stderr.len() < 1000,
        "a message of {} bytes: {:.300}",
        out.stderr.len(),
        out.stderr
    );
    let needle = prep.needle.as_deref().unwrap_or(case.needle);
    assert!(
        out.stderr.contains(needle),
        "does not name {needle:?}: {shown}"
    );
    if let Some(pid_file) = &prep.hook_pid_file {
        let pid: i64 = fs::read_to_string(pid_file)
            .unwrap_or_else(|e| panic!("{shown}\nthe hook did not run ({e})"))
            .trim()
            .parse()
            .unwrap();
        assert!(
            wait_pid_gone(pid, Duration::from_secs(20)),
            "{shown}\nthe timed-out hook {pid} is still alive"
        );
    }
    assert_no_leaks(&before, &Snapshot::take(env));
}

#[test]
fn hostile_bundles_are_rejected_cleanly() {
    require_root!();
    assert!(REJECTED.len() >= 40, "{} cases", REJECTED.len());
    let env = Env::exclusive("hostile");
    let mut bundle = Bundle::new(&env);
    bundle.set_args(&["true"]);
    let original = bundle.config().clone();
    let config = bundle.path().join("config.json");
    for case in REJECTED {
        let id = env.new_id();
        let mut prep = Prep::default();
        *bundle.config_mut() = original.clone();
        bundle.set_cgroups_path(&format!("/berth-test/{id}"));
        (case.setup)(&env, bundle.config_mut(), &mut prep);
        for &cmd in case.cmds {
            match (fs::symlink_metadata(&config), &prep.special) {
                (Ok(m), _) if m.is_dir() => fs::remove_dir(&config).unwrap(),
                (Ok(_), _) => fs::remove_file(&config).unwrap(),
                _ => {}
            }
            match (&prep.special, &prep.raw) {
                (Some(make), _) => make(&config),
                (None, Some(raw)) => fs::write(&config, raw).unwrap(),
                (None, None) => bundle.save(),
            }
            let id = prep.id.clone().unwrap_or_else(|| id.clone());
            check_rejected(&env, &bundle, case, cmd, &prep, &id);
        }
        assert!(
            env.root_entries().is_empty(),
            "case {:?} left {:?}",
            case.name,
            env.root_entries()
        );
    }
    for p in [&config] {
        if fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
            fs::remove_dir(p).unwrap();
        }
    }
    // Nothing escaped the root dir through an ID either.
    assert!(!env.dir().join("etc").exists());
}

/// A hook's own children outlive a timed-out hook: berth kills the hook
/// process only, not what it started.
#[test]
fn timed_out_hook_leaves_no_children() {
    require_root!();
    let env = Env::exclusive("hookchild");
    let mut b = Bundle::new(&env);
    b.set_args(&["true"]);
    let pid_file = env.dir().join("sleep.pid");
    b.config_mut()["hooks"] = json!({"prestart": [{
        "path": BUSYBOX,
        "args": ["busybox", "sh", "-c",
                 format!("{BUSYBOX} sleep 100 & echo $! > {}; wait", pid_file.display())],
        "timeout": 1
    }]});
    let id = env.new_id();
    let out = env.run(&mut b, &id);
    assert_eq!(out.code, 1, "{}", out.describe());
    let pid: i64 = read_lossy(&pid_file).trim().parse().expect("hook pid");
    let gone = wait_pid_gone(pid, Duration::from_secs(20));
    if !gone {
        // SAFETY: plain kill of the process our own hook started.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    assert!(gone, "the hook's child {pid} survived the hook's timeout");
}

/// Init dying before it is ready (here: OOM-killed under a 1-byte memory
/// limit) must make create fail, not wait forever.
#[test]
fn init_killed_before_ready_fails_create() {
    require_root!();
    let env = Env::exclusive("initoom");
    let mut b = Bundle::new(&env);
    b.set_args(&["true"]);
    b.config_mut()["linux"]["resources"]["memory"] = json!({"limit": 1});
    let id = env.new_id();
    env.prepare(&mut b, &id);
    let bp = b.path().display().to_string();
    let before = Snapshot::take(&env);
    let out = env
        .spawn(&["create", "--bundle", &bp, &id])
        .wait_quiet(Duration::from_secs(20));
    let Some(out) = out else {
        panic!("create did not return within 20s after init was OOM-killed");
    };
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_no_leaks(&before, &Snapshot::take(&env));
}

/// Signal names out of range (found by the `cli` fuzz target): each must be
/// refused with exit 1 and one line, never sent as signal 0 (a silent
/// no-op), as a negative or out-of-range number, or crash berth on an
/// integer overflow.
#[test]
fn kill_with_out_of_range_realtime_signals_is_refused() {
    require_root!();
    let env = Env::new("badsignal");
    let mut b = Bundle::new(&env);
    b.set_args(&["sleep", "100"]);
    let id = env.new_id();
    env.create(&mut b, &id).ok();
    let mut bad = vec![];
    for sig in [
        "RTMIN+-34",
        "RTMIN+-99",
        "RTMAX--5",
        "RTMIN+2147483647",
        "RTMAX--2147483647",
    ] {
        let out = env.berth(&["kill", &id, sig]);
        if out.code != 1 || out.stderr.lines().count() != 1 {
            bad.push(format!("kill {sig}: {}", out.describe()));
        }
    }
    env.berth(&["delete", "--force", &id]).ok();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

// ---------------------------------------------------------------------------
// Accepted, but contained: nothing outside the root is touched.

/// A host directory with a canary file that no case may change.
fn victim(env: &Env) -> PathBuf {
    let v = env.dir().join("victim");
    fs::create_dir_all(&v).unwrap();
    fs::write(v.join("canary"), "untouched").unwrap();
    v
}

#[track_caller]
fn assert_victim_untouched(v: &Path, what: &str) {
    assert_eq!(
        dir_entries(v),
        vec!["canary".to_string()],
        "{what}: something appeared in the host directory {}",
        v.display()
    );
    assert_eq!(read_lossy(&v.join("canary")), "untouched", "{what}");
    assert!(mounts_below(v).is_empty(), "{what}: mounted over the host");
}

/// Runs the bundle; it may succeed or fail (one line, exit 1), but must leak
/// nothing. Returns the output.
#[track_caller]
fn run_contained(env: &Env, b: &mut Bundle, what: &str) -> Out {
    let before = Snapshot::take(env);
    let out = env.run(b, &env.new_id());
    assert!(
        out.code == 0 || (out.code == 1 && out.stderr.lines().count() == 1),
        "{what}:\n{}",
        out.describe()
    );
    assert_no_leaks(&before, &Snapshot::take(env));
    out
}

#[test]
fn image_symlinks_and_dotdot_stay_inside_the_root() {
    require_root!();
    let env = Env::exclusive("contained");
    let v = victim(&env);
    let vs = v.display().to_string();

    // A mount destination through an image symlink to the host directory's
    // absolute path: resolved inside the rootfs.
    let mut b = Bundle::new(&env);
    symlink(&v, b.rootfs().join("link")).unwrap();
    b.config_mut()["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/link/x", "type": "tmpfs", "source": "tmpfs"}));
    b.set_sh("grep -c ' /' /proc/self/mountinfo");
    run_contained(&env, &mut b, "destination through a symlink");
    assert_victim_untouched(&v, "destination through a symlink");

    // A destination climbing out with .. (lexically back to the root).
    let mut b = Bundle::new(&env);
    let dest = format!("/../../../../../..{vs}/y");
    b.config_mut()["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs"}));
    b.set_sh(&format!(
        "grep -q ' {vs}/y ' /proc/self/mountinfo && echo inside"
    ));
    let out = run_contained(&env, &mut b, "destination with ..");
    assert!(out.stdout.contains("inside"), "{}", out.describe());
    assert_victim_untouched(&v, "destination with ..");

    // A relative symlink climbing out of the root as the mount's parent.
    let mut b = Bundle::new(&env);
    symlink("../../../../../../../../..", b.rootfs().join("up")).unwrap();
    b.config_mut()["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": format!("/up{vs}/z"), "type": "tmpfs", "source": "tmpfs"}));
    b.set_args(&["true"]);
    run_contained(&env, &mut b, "relative symlink climbing out");
    assert_victim_untouched(&v, "relative symlink climbing out");

    // The working directory through a symlink to the host path.
    let mut b = Bundle::new(&env);
    symlink(&v, b.rootfs().join("cwdlink")).unwrap();
    b.set_cwd("/cwdlink").set_sh("touch written; pwd");
    run_contained(&env, &mut b, "cwd through a symlink");
    assert_victim_untouched(&v, "cwd through a symlink");

    // The image's /proc is a symlink to the host directory: the proc mount
    // lands inside the root (or fails), never on the host.
    let mut b = Bundle::new(&env);
    fs::remove_dir(b.rootfs().join("proc")).unwrap();
    symlink(&v, b.rootfs().join("proc")).unwrap();
    b.set_args(&["true"]);
    run_contained(&env, &mut b, "/proc as a symlink out");
    assert_victim_untouched(&v, "/proc as a symlink out");

    // /dev as a symlink out, with the default tmpfs /dev and its nodes.
    let mut b = Bundle::new(&env);
    fs::remove_dir(b.rootfs().join("dev")).unwrap();
    symlink(&v, b.rootfs().join("dev")).unwrap();
    b.set_args(&["true"]);
    run_contained(&env, &mut b, "/dev as a symlink out");
    assert_victim_untouched(&v, "/dev as a symlink out");
}

/// A destination that reaches /proc (or the root itself) through a symlink
/// in the image passes the lexical rules of the bundle validation; init
/// checks where the mount really lands and refuses it.
#[test]
fn proc_mount_through_an_image_symlink_is_refused() {
    require_root!();
    let env = Env::exclusive("procsym");
    let cases = [
        // (symlink in the image, its target, destination, where it lands, why)
        (
            "p",
            "/proc/sys",
            "/p/kernel",
            "/proc/sys/kernel",
            "inside /proc",
        ),
        ("q", "..", "/q/proc/sys", "/proc/sys", "inside /proc"),
        ("r", "/", "/r", "/ in the rootfs", "cover the root"),
    ];
    for (link, to, dest, lands, why) in cases {
        let mut b = Bundle::new(&env);
        symlink(to, b.rootfs().join(link)).unwrap();
        let mounts = b.config_mut()["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs"}));
        let field = format!("mounts[{}].destination", mounts.len() - 1);
        b.set_args(&["true"]);
        let id = env.new_id();
        env.prepare(&mut b, &id);
        let before = Snapshot::take(&env);
        let out = env.run(&mut b, &id);
        assert_eq!(out.code, 1, "{dest}: {}", out.describe());
        assert_eq!(out.stderr.lines().count(), 1, "{dest}: {}", out.describe());
        for needle in [field.as_str(), dest, lands, why] {
            assert!(
                out.stderr.contains(needle),
                "{dest}: no {needle:?} in: {}",
                out.stderr
            );
        }
        assert_no_leaks(&before, &Snapshot::take(&env));
    }
}

/// The lxcfs files stay allowed when /proc is reached the normal way, and
/// a destination whose symlinks stay outside /proc is mounted.
#[test]
fn mounts_through_image_symlinks_outside_proc_still_work() {
    require_root!();
    let env = Env::new("procsymok");
    let mut b = Bundle::new(&env);
    fs::create_dir_all(b.rootfs().join("data")).unwrap();
    symlink("/data", b.rootfs().join("d")).unwrap();
    let mounts = b.config_mut()["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/d/t", "type": "tmpfs", "source": "tmpfs"}));
    mounts.push(json!({"destination": "/proc/uptime", "type": "bind",
                       "source": "/proc/uptime", "options": ["bind"]}));
    b.set_args(&["sh", "-c", "grep -c ' /data/t tmpfs ' /proc/mounts"]);
    let out = env.run(&mut b, &env.new_id());
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(out.stdout.trim(), "1", "{}", out.describe());
}

// ---------------------------------------------------------------------------
// The fuzz corpus, through the fuzz targets' functions.

#[test]
fn fuzz_corpus_replays() {
    // Holds the shared lock: the exclusive tests here count open fds, and
    // reading the corpus opens some.
    let _env = Env::new("corpus");
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    type Target = (&'static str, fn(&[u8]));
    let targets: [Target; 3] = [
        ("config", fuzz_lib::config),
        ("state", fuzz_lib::state),
        ("cli", fuzz_lib::cli),
    ];
    for (name, run) in targets {
        let dir = corpus.join(name);
        let files = dir_entries(&dir);
        assert!(!files.is_empty(), "no corpus in {}", dir.display());
        for f in files {
            let data = fs::read(dir.join(&f)).unwrap();
            run(&data);
        }
    }
}
