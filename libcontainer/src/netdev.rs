//! linux.netDevices: host network interfaces moved into the container's
//! network namespace (runtime-spec 1.3, config-linux.md "Network Devices").
//!
//! Done by the runtime over rtnetlink, once init exists in its network
//! namespace and before it goes on with its setup (so createRuntime hooks and
//! the process see the devices): RTM_NEWLINK with IFLA_NET_NS_FD and
//! IFLA_IFNAME moves and renames each device in one step. Moving a device
//! drops its addresses, so the permanent ones are read first and added again
//! inside, and the device is set up there.
//!
//! Back out: when the container is deleted while its network namespace still
//! exists (delete --force of a live container, a namespace joined by path) or
//! create fails after the move, each device is set down and moved back to the
//! runtime's namespace under its host name. Once the namespace is gone the
//! kernel has already decided: physical devices return to the initial
//! namespace, virtual ones (dummy, veth …) are destroyed, as the spec notes.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{BundleError, ChildError, Error};
use crate::netlink::{Address, Rtnl};
use crate::rootfs::path::cstr;
use crate::sys;

/// The kernel's IFNAMSIZ, with the terminating NUL.
const IFNAMSIZ: usize = 16;

/// The parts around the kernel's "%d" in a name template ("eth%d").
fn template(name: &str) -> Option<(&str, &str)> {
    let i = name.find("%d")?;
    Some((&name[..i], &name[i + 2..]))
}

/// Whether `name` is `template` with a number for its "%d"; the number.
fn template_index(template: (&str, &str), name: &str) -> Option<u64> {
    let digits = name.strip_prefix(template.0)?.strip_suffix(template.1)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Checks a name for the container side: a valid interface name, or a
/// template with one "%d" that the kernel's own allocation would take.
fn check_inside_name(name: &str) -> Result<(), String> {
    check_name(name)?;
    match template(name) {
        Some((pre, post)) if !pre.contains('%') && !post.contains('%') => {
            check_name(&format!("{pre}0{post}"))
        }
        _ if name.contains('%') => Err(format!(
            "{name:?}: a name may hold one \"%d\" (a template) and no other '%'"
        )),
        _ => check_name(name),
    }
}

/// Checks an interface name as the kernel's dev_valid_name does.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an interface name may not be empty".into());
    }
    if name.len() >= IFNAMSIZ {
        return Err(format!(
            "{name:?} is {} bytes long; interface names have at most {}",
            name.len(),
            IFNAMSIZ - 1
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not an interface name"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || *c == '\0')
    {
        return Err(format!(
            "{name:?} contains {c:?}, which an interface name may not"
        ));
    }
    Ok(())
}

/// (host name, name in the container) of every device, sorted.
fn devices(spec: &Spec) -> Vec<(String, String)> {
    let Some(devs) = spec.linux().as_ref().and_then(|l| l.net_devices().clone()) else {
        return Vec::new();
    };
    let mut v: Vec<(String, String)> = devs
        .into_iter()
        .map(|(host, d)| {
            let inside = d
                .name()
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| host.clone());
            (host, inside)
        })
        .collect();
    v.sort();
    v
}

/// Validates linux.netDevices: names the kernel takes, no two devices with
/// one name inside, and a network namespace that is not the runtime's.
pub fn validate(spec: &Spec) -> Result<(), BundleError> {
    let Some(devs) = spec.linux().as_ref().and_then(|l| l.net_devices().clone()) else {
        return Ok(());
    };
    let mut keys: Vec<&String> = devs.keys().collect();
    keys.sort();
    let mut inside: HashMap<String, String> = HashMap::new();
    for host in keys {
        let field = format!("linux.netDevices.{host}");
        check_name(host)
            .and_then(|()| match host.contains('%') {
                true => Err(format!("{host:?}: a host interface name has no '%'")),
                false => Ok(()),
            })
            .map_err(|m| BundleError::invalid(field.clone(), m))?;
        let name = devs[host].name().clone().filter(|n| !n.is_empty());
        if let Some(n) = &name {
            check_inside_name(n).map_err(|m| BundleError::invalid(format!("{field}.name"), m))?;
        }
        let name = name.unwrap_or_else(|| host.clone());
        if template(&name).is_some() {
            continue;
        }
        if let Some(other) = inside.insert(name.clone(), host.clone()) {
            return Err(BundleError::invalid(
                field,
                format!("{other:?} and {host:?} would both be named {name:?} in the container"),
            ));
        }
    }
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    if !namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Network)
    {
        return Err(BundleError::invalid(
            "linux.netDevices",
            "moving devices needs a network namespace of the container's own \
             (add {\"type\": \"network\"} to linux.namespaces)",
        ));
    }
    Ok(())
}

fn open_ns(path: &std::path::Path) -> io::Result<OwnedFd> {
    sys::open(&cstr(path)?, libc::O_RDONLY, 0)
}

fn same_ns(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> io::Result<bool> {
    let (x, y) = (sys::fstat(a)?, sys::fstat(b)?);
    Ok(x.st_dev == y.st_dev && x.st_ino == y.st_ino)
}

fn fail(field: String, e: &io::Error) -> Error {
    Error::Child(ChildError::io(field, e))
}

/// Moves every device of linux.netDevices into the network namespace of
/// `init_pid`. On error the devices moved so far are moved back.
pub fn move_in(spec: &Spec, init_pid: libc::pid_t) -> Result<(), Error> {
    let devs = devices(spec);
    if devs.is_empty() {
        return Ok(());
    }
    let ns = open_ns(&PathBuf::from(format!("/proc/{init_pid}/ns/net"))).map_err(|e| {
        fail(
            "linux.netDevices: the container's network namespace".into(),
            &e,
        )
    })?;
    let own = sys::open(c"/proc/thread-self/ns/net", libc::O_RDONLY, 0)
        .map_err(|e| fail("linux.netDevices: our network namespace".into(), &e))?;
    if same_ns(ns.as_fd(), own.as_fd()).unwrap_or(false) {
        return Err(Error::Child(ChildError::msg(
            "linux.netDevices",
            "the container's network namespace is the runtime's own: \
             devices can only move into a namespace of the container's",
        )));
    }
    let mut host = Rtnl::here().map_err(|e| fail("linux.netDevices: open rtnetlink".into(), &e))?;
    let mut inside = Rtnl::in_netns(ns.as_fd()).map_err(|e| {
        fail(
            "linux.netDevices: open rtnetlink in the container's network namespace".into(),
            &e,
        )
    })?;
    let mut moved = Vec::new();
    for (host_name, name) in &devs {
        if let Err(e) = move_one(
            &mut host,
            &mut inside,
            ns.as_fd(),
            host_name,
            name,
            &mut moved,
        ) {
            // Leave the host as it was: the devices moved so far go back,
            // with their addresses and up state.
            for m in &moved {
                roll_back(&mut host, &mut inside, own.as_fd(), m);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// A device moved in, with what it had on the host.
struct Moved {
    host_name: String,
    name: String,
    addrs: Vec<Address>,
    was_up: bool,
}

fn roll_back(host: &mut Rtnl, inside: &mut Rtnl, own: BorrowedFd<'_>, m: &Moved) {
    if move_one_back(inside, own, &m.host_name, &m.name).is_err() {
        return;
    }
    if let Ok(Some(link)) = host.link(&m.host_name) {
        for a in &m.addrs {
            let _ = host.add_address(link.index, a);
        }
        if m.was_up {
            let _ = host.set_up(link.index, true);
        }
    }
}

fn move_one(
    host: &mut Rtnl,
    inside: &mut Rtnl,
    ns: BorrowedFd<'_>,
    host_name: &str,
    name: &str,
    moved: &mut Vec<Moved>,
) -> Result<(), Error> {
    let field = format!("linux.netDevices.{host_name}");
    let link = host
        .link(host_name)
        .map_err(|e| fail(field.clone(), &e))?
        .ok_or_else(|| {
            Error::Child(ChildError::msg(
                field.clone(),
                format!("no network device {host_name:?} in the runtime's network namespace"),
            ))
        })?;
    // A template takes the first free number, as the kernel would; resolved
    // here so the device can be found again by name.
    let resolved;
    let name = match template(name) {
        Some(t) => {
            let taken = inside.link_names().map_err(|e| fail(field.clone(), &e))?;
            resolved = (0u32..)
                .map(|n| format!("{}{n}{}", t.0, t.1))
                .find(|c| !taken.contains(c))
                .unwrap_or_default();
            check_name(&resolved)
                .map_err(|m| Error::Child(ChildError::msg(format!("{field}.name"), m)))?;
            resolved.as_str()
        }
        None => name,
    };
    if inside
        .link(name)
        .map_err(|e| fail(field.clone(), &e))?
        .is_some()
    {
        return Err(Error::Child(ChildError::msg(
            field,
            format!("the container's network namespace already has a device named {name:?}"),
        )));
    }
    let addrs = host
        .addresses(link.index)
        .map_err(|e| fail(format!("{field}: read its addresses"), &e))?;
    host.move_link(link.index, ns, name).map_err(|e| {
        let why = if e.raw_os_error() == Some(libc::EINVAL) {
            format!("{field}: move into the container's network namespace as {name:?} (devices bound to their namespace, such as lo or a bridge, cannot move)")
        } else {
            format!("{field}: move into the container's network namespace as {name:?}")
        };
        fail(why, &e)
    })?;
    moved.push(Moved {
        host_name: host_name.to_string(),
        name: name.to_string(),
        addrs: addrs.clone(),
        was_up: link.up,
    });
    let moved = inside
        .link(name)
        .map_err(|e| fail(field.clone(), &e))?
        .ok_or_else(|| {
            Error::Child(ChildError::msg(
                field.clone(),
                format!("{name:?} vanished after the move"),
            ))
        })?;
    for a in &addrs {
        inside
            .add_address(moved.index, a)
            .map_err(|e| fail(format!("{field}: restore address {}", a.describe()), &e))?;
    }
    inside
        .set_up(moved.index, true)
        .map_err(|e| fail(format!("{field}: set {name:?} up"), &e))?;
    tracing::debug!(
        device = host_name,
        name,
        addresses = addrs.len(),
        "moved into the container"
    );
    Ok(())
}

/// Sets `name` down in the container's namespace (through `inside`) and
/// moves it to `to` under `host_name`. A device no longer there (renamed or
/// removed by the container) is left alone.
fn move_one_back(
    inside: &mut Rtnl,
    to: BorrowedFd<'_>,
    host_name: &str,
    name: &str,
) -> io::Result<()> {
    let Some(link) = inside.link(name)? else {
        return Ok(());
    };
    inside.set_up(link.index, false)?;
    inside.move_link(link.index, to, host_name)
}

/// Replaces each template name by the device inside it was given: devices
/// of one template took increasing numbers in host-name order.
fn resolve_templates(inside: &mut Rtnl, devs: Vec<(String, String)>) -> Vec<(String, String)> {
    if !devs.iter().any(|(_, n)| template(n).is_some()) {
        return devs;
    }
    let names = inside.link_names().unwrap_or_default();
    let mut taken: Vec<String> = Vec::new();
    devs.into_iter()
        .map(|(host, name)| {
            let Some(t) = template(&name) else {
                return (host, name);
            };
            let found = names
                .iter()
                .filter(|n| !taken.contains(n))
                .filter_map(|n| template_index(t, n).map(|i| (i, n)))
                .min()
                .map(|(_, n)| n.clone());
            match found {
                Some(n) => {
                    taken.push(n.clone());
                    (host, n)
                }
                None => (host, name),
            }
        })
        .collect()
}

/// The container's network namespace, while it still exists: init's, or
/// the one joined by path.
fn container_netns(spec: &Spec, init_pid: Option<libc::pid_t>) -> Option<OwnedFd> {
    if let Some(pid) = init_pid {
        if let Ok(fd) = open_ns(&PathBuf::from(format!("/proc/{pid}/ns/net"))) {
            return Some(fd);
        }
    }
    let path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default()
        .into_iter()
        .find(|n| n.typ() == LinuxNamespaceType::Network)
        .and_then(|n| n.path().clone())?;
    open_ns(&path).ok()
}

/// Moves the devices back to the runtime's network namespace under their
/// host names (set down first), while the container's namespace exists:
/// `init_pid` is init if it is still alive. Best effort: every device is
/// tried; the first failure is returned.
pub fn move_out(spec: &Spec, init_pid: Option<libc::pid_t>) -> Result<(), Error> {
    let devs = devices(spec);
    if devs.is_empty() {
        return Ok(());
    }
    let Some(ns) = container_netns(spec, init_pid) else {
        return Ok(());
    };
    let own = sys::open(c"/proc/thread-self/ns/net", libc::O_RDONLY, 0)
        .map_err(|e| fail("linux.netDevices: our network namespace".into(), &e))?;
    if same_ns(ns.as_fd(), own.as_fd()).unwrap_or(true) {
        return Ok(());
    }
    let mut inside = Rtnl::in_netns(ns.as_fd()).map_err(|e| {
        fail(
            "linux.netDevices: open rtnetlink in the container's network namespace".into(),
            &e,
        )
    })?;
    let devs = resolve_templates(&mut inside, devs);
    let mut first = None;
    for (host_name, name) in &devs {
        if let Err(e) = move_one_back(&mut inside, own.as_fd(), host_name, name) {
            let err = fail(
                format!("linux.netDevices.{host_name}: move {name:?} back to the host"),
                &e,
            );
            first.get_or_insert(err);
        }
    }
    first.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_follow_the_kernel_rules() {
        for ok in ["eth0", "a", "dummy-berth.1", "abcdefghijklmno"] {
            check_name(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in ["", ".", "..", "a/b", "a b", "a:1", "abcdefghijklmnop"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        check_inside_name("eth%d").unwrap();
        for bad in ["eth%s", "e%d%d", "abcdefghijklmn%d", "%"] {
            assert!(check_inside_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(template_index(("eth", ""), "eth12"), Some(12));
        assert_eq!(template_index(("eth", ""), "eth"), None);
        assert_eq!(template_index(("eth", ""), "ethx"), None);
    }

    fn spec(linux: serde_json::Value) -> Spec {
        serde_json::from_value(serde_json::json!({
            "ociVersion": "1.3.0",
            "root": {"path": "rootfs"},
            "process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["sh"]},
            "linux": linux,
        }))
        .unwrap()
    }

    #[test]
    fn validation_names_the_field() {
        let with_net = serde_json::json!([{"type": "network"}]);
        let cases = [
            (
                serde_json::json!({"namespaces": with_net, "netDevices": {"eth/0": {}}}),
                "linux.netDevices.eth/0",
            ),
            (
                serde_json::json!({"namespaces": with_net, "netDevices": {"eth0": {"name": ".."}}}),
                "linux.netDevices.eth0.name",
            ),
            (
                serde_json::json!({"namespaces": with_net,
                                   "netDevices": {"a": {"name": "x"}, "b": {"name": "x"}}}),
                "linux.netDevices.b",
            ),
            (
                serde_json::json!({"namespaces": [{"type": "mount"}], "netDevices": {"eth0": {}}}),
                "linux.netDevices",
            ),
        ];
        for (linux, field) in cases {
            let text = validate(&spec(linux)).unwrap_err().to_string();
            assert!(text.starts_with(&format!("{field}:")), "{field}: {text}");
        }
        validate(&spec(serde_json::json!({
            "namespaces": with_net, "netDevices": {"eth0": {"name": "ctr0"}, "eth1": {}}
        })))
        .unwrap();
    }
}
