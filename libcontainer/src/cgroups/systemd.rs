//! The systemd cgroup driver (`--systemd-cgroup`): the container's cgroup
//! is a transient scope that systemd creates over D-Bus
//! (StartTransientUnit) with init's pid in it and `Delegate=yes`, so the
//! cgroup below it is ours to write. Limits systemd has a property for are
//! set as properties (so systemd keeps them when it rewrites the cgroup);
//! every field is then written to the scope's cgroup files by the cgroupfs
//! code, as for the cgroupfs driver.
//!
//! On a cgroup v1 host (legacy or hybrid) systemd makes the scope only in
//! the hierarchies it manages; berth makes the same path in the others
//! (cpuset, freezer …) and moves init there too, as runc does, and uses
//! the v1 names of the properties (MemoryLimit, CPUShares).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use super::dbus::{Call, Connection, DbusError, Property, Value, Writer};
use super::{v2, CgroupManager};
use crate::error::CgroupError;

/// runc's default slice for system containers.
const DEFAULT_SLICE: &str = "system.slice";
/// runc's default slice in a user's own manager (rootless).
const DEFAULT_USER_SLICE: &str = "user.slice";
/// systemd's own socket: root reaches the manager without the bus daemon.
const PRIVATE_SOCKET: &str = "/run/systemd/private";
/// The system bus, for when the private socket cannot be used.
const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";
const NO_SUCH_UNIT: &str = "org.freedesktop.systemd1.NoSuchUnit";
/// How long systemd may take to run the start job and move init.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a container's scope goes, from `slice:prefix:name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopePath {
    /// The parent slice unit ("system.slice").
    pub slice: String,
    /// The scope unit ("berth-ID.scope").
    pub unit: String,
}

fn invalid(given: &str, why: impl std::fmt::Display) -> CgroupError {
    CgroupError::Resource {
        field: "linux.cgroupsPath".into(),
        message: format!("{given:?}: {why}"),
    }
}

/// A unit name part: what systemd accepts in unit names, without the
/// characters it gives a meaning (`-` in slices, `@` templates).
fn check_part(given: &str, what: &str, part: &str, allow_dash: bool) -> Result<(), CgroupError> {
    let ok = part.chars().all(|c| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '\\') || (allow_dash && c == '-')
    });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            given,
            format!("the {what} {part:?} has characters systemd does not allow in unit names"),
        ))
    }
}

/// Whose systemd makes the scopes: the system's (root), or the calling
/// user's own instance (rootless, as runc and crun with
/// `--systemd-cgroup` as a user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    /// systemd as PID 1, for root.
    System,
    /// user@UID.service, the user's manager.
    User(u32),
}

impl Manager {
    /// The caller's: by its effective uid.
    pub fn of_caller() -> Manager {
        match crate::sys::effective_ids().0 {
            0 => Manager::System,
            uid => Manager::User(uid),
        }
    }

    fn default_slice(self) -> &'static str {
        match self {
            Manager::System => DEFAULT_SLICE,
            Manager::User(_) => DEFAULT_USER_SLICE,
        }
    }
}

/// The user's runtime directory ($XDG_RUNTIME_DIR, else /run/user/UID).
fn user_runtime_dir(uid: u32) -> std::path::PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|d| !d.is_empty())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| format!("/run/user/{uid}").into())
}

/// Parses runc's systemd form of `linux.cgroupsPath`, `slice:prefix:name`
/// (an empty path means `:berth:ID`): the scope `prefix-name.scope` in
/// `slice`, or when the slice is empty system.slice (user.slice in a
/// user's manager).
pub fn parse_path(given: Option<&str>, id: &str) -> Result<ScopePath, CgroupError> {
    parse_path_for(Manager::of_caller(), given, id)
}

fn parse_path_for(
    manager: Manager,
    given: Option<&str>,
    id: &str,
) -> Result<ScopePath, CgroupError> {
    let default = format!(":berth:{id}");
    let given = given.filter(|p| !p.is_empty()).unwrap_or(&default);
    let parts: Vec<&str> = given.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        return Err(invalid(
            given,
            "with --systemd-cgroup the path has the form slice:prefix:name (e.g. system.slice:berth:ID)",
        ));
    };
    let slice = if slice.is_empty() {
        manager.default_slice()
    } else {
        slice
    };
    if !slice.ends_with(".slice") || slice.len() == ".slice".len() {
        return Err(invalid(
            given,
            format!("{slice:?} is not a slice unit name (like system.slice)"),
        ));
    }
    check_part(given, "slice", slice, true)?;
    if name.is_empty() {
        return Err(invalid(given, "the name part is empty"));
    }
    if name.ends_with(".slice") {
        return Err(invalid(
            given,
            "a name ending in .slice asks for a slice of the container's own, which berth does not make (use a scope name)",
        ));
    }
    check_part(given, "prefix", prefix, true)?;
    check_part(given, "name", name, true)?;
    let unit = if prefix.is_empty() {
        format!("{name}.scope")
    } else {
        format!("{prefix}-{name}.scope")
    };
    Ok(ScopePath {
        slice: slice.to_string(),
        unit,
    })
}

/// Fails unless systemd runs as the init system and, for a user, the
/// user's own manager can be reached on a cgroup v2 host.
pub fn check_available() -> Result<(), CgroupError> {
    // The test systemd itself and sd_booted(3) use.
    if !Path::new("/run/systemd/system").is_dir() {
        return Err(CgroupError::Systemd(
            "systemd is not running on this host (no /run/systemd/system); use the cgroupfs driver (leave out --systemd-cgroup)"
                .into(),
        ));
    }
    let Manager::User(uid) = Manager::of_caller() else {
        return Ok(());
    };
    // A v1 host delegates nothing to a user's manager.
    if !super::is_unified_host() {
        return Err(CgroupError::Systemd(
            "as a user (rootless) the systemd driver needs a cgroup v2 host; use the cgroupfs driver (leave out --systemd-cgroup)"
                .into(),
        ));
    }
    let private = user_runtime_dir(uid).join("systemd/private");
    if !private.exists() && std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        return Err(CgroupError::Systemd(format!(
            "your own systemd instance is out of reach (no {} and no DBUS_SESSION_BUS_ADDRESS): it runs while you have a login session, or always with `loginctl enable-linger`",
            private.display()
        )));
    }
    Ok(())
}

const MAX: u64 = u64::MAX;

/// A limit in runc's convention (-1 none, 0 unset) as a systemd value.
fn limit(v: Option<i64>) -> Option<u64> {
    match v {
        Some(-1) => Some(MAX),
        Some(n) if n > 0 => Some(n as u64),
        _ => None,
    }
}

/// Which names systemd's resource properties take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hierarchy {
    /// cgroup v2 (MemoryMax, CPUWeight …).
    Unified,
    /// cgroup v1, legacy or hybrid (MemoryLimit, CPUShares).
    Legacy,
}

impl Hierarchy {
    /// This host's.
    pub fn of_host() -> Hierarchy {
        if super::is_unified_host() {
            Hierarchy::Unified
        } else {
            Hierarchy::Legacy
        }
    }
}

/// The resource properties systemd has, named for `hierarchy`. The rest
/// (and these again) go to the cgroup files.
pub fn resource_properties(res: Option<&LinuxResources>, hierarchy: Hierarchy) -> Vec<Property> {
    let mut props: Vec<Property> = Vec::new();
    let Some(res) = res else {
        return props;
    };
    let unified = hierarchy == Hierarchy::Unified;
    if let Some(m) = res.memory() {
        let mem = limit(m.limit());
        if let Some(v) = mem {
            props.push((
                if unified { "MemoryMax" } else { "MemoryLimit" },
                Value::U64(v),
            ));
        }
        // v1 has neither a low boundary nor swap alone in systemd's terms:
        // memory.soft_limit_in_bytes and memsw are written to the files.
        if unified {
            if let Some(v) = limit(m.reservation()) {
                props.push(("MemoryLow", Value::U64(v)));
            }
            // runc's swap is memory + swap; systemd's MemorySwapMax is swap alone.
            match (limit(m.swap()), mem) {
                (Some(MAX), _) => props.push(("MemorySwapMax", Value::U64(MAX))),
                (Some(total), Some(mem)) if mem != MAX && total >= mem => {
                    props.push(("MemorySwapMax", Value::U64(total - mem)))
                }
                _ => {}
            }
        }
    }
    if let Some(p) = res.pids() {
        if let Some(v) = limit(Some(p.limit())) {
            props.push(("TasksMax", Value::U64(v)));
        }
    }
    if let Some(c) = res.cpu() {
        if let Some(shares) = c.shares().filter(|s| *s > 0) {
            props.push(if unified {
                ("CPUWeight", Value::U64(v2::shares_to_weight(shares)))
            } else {
                ("CPUShares", Value::U64(shares))
            });
        }
        let period = c.period().filter(|p| *p > 0);
        match c.quota() {
            Some(-1) => props.push(("CPUQuotaPerSecUSec", Value::U64(MAX))),
            Some(q) if q > 0 => {
                let per = period.unwrap_or(100_000);
                // systemd keeps the quota per second of CPU time.
                let per_sec = (q as u64).saturating_mul(1_000_000) / per;
                props.push(("CPUQuotaPerSecUSec", Value::U64(quota_per_sec(per_sec))));
            }
            _ => {}
        }
        if let Some(p) = period {
            props.push(("CPUQuotaPeriodUSec", Value::U64(p)));
        }
    }
    // systemd writes what it manages of a controller it applies (at a
    // daemon-reload too), defaults included: memory.high set through
    // `unified` came back as "max". So the unified keys it has properties
    // for go to it as well (after the fields: as in the files, they win).
    if unified {
        // io.weight too: it read "default 100" after a daemon-reload.
        let io_weight = res.block_io().as_ref().and_then(|b| b.weight());
        if let Some(w) = io_weight.map(v2::blkio_to_io_weight).filter(|w| *w > 0) {
            props.push(("IOWeight", Value::U64(w)));
        }
        for (key, value) in res.unified().iter().flatten() {
            props.extend(unified_property(key, value));
        }
    }
    // On v1 systemd rewrites the scope's devices cgroup with its own list
    // ("allow all" without one) whenever it applies the unit's settings: it
    // gets the container's rules. (On v2 it leaves berth's eBPF filter be.)
    if !unified && res.devices().as_ref().is_some_and(|d| !d.is_empty()) {
        if let Some(allow) = super::devices::systemd_device_allow(res) {
            props.push(("DevicePolicy", Value::Str("strict".into())));
            // An empty list first: systemd appends to what the unit had.
            props.push(("DeviceAllow", Value::StrPairs(Vec::new())));
            props.push(("DeviceAllow", Value::StrPairs(allow)));
        }
    }
    props
}

/// The systemd property of one `linux.resources.unified` entry, for the
/// keys systemd manages; none for the others (or a value the file write
/// will refuse with a clear error).
fn unified_property(key: &str, value: &str) -> Vec<Property> {
    let value = value.trim();
    let amount = |v: &str| if v == "max" { Some(MAX) } else { memparse(v) };
    let name = match key {
        "memory.high" => "MemoryHigh",
        "memory.low" => "MemoryLow",
        "memory.min" => "MemoryMin",
        "memory.max" => "MemoryMax",
        "memory.swap.max" => "MemorySwapMax",
        "pids.max" => "TasksMax",
        "cpu.weight" => "CPUWeight",
        // "default N" (per-device lines are not systemd's IOWeight).
        "io.weight" => {
            let weight = value
                .strip_prefix("default")
                .map(str::trim)
                .unwrap_or(value);
            return weight
                .parse()
                .map(|w| vec![("IOWeight", Value::U64(w))])
                .unwrap_or_default();
        }
        "cpu.max" => {
            // "QUOTA PERIOD" or "QUOTA"; systemd keeps the quota per second.
            let mut parts = value.split_whitespace();
            let quota = parts.next().and_then(amount);
            let period: Option<u64> = parts.next().and_then(|p| p.parse().ok());
            let mut props = Vec::new();
            if let Some(quota) = quota {
                let per_sec = match quota {
                    MAX => MAX,
                    q => q.saturating_mul(1_000_000) / period.filter(|p| *p > 0).unwrap_or(100_000),
                };
                props.push(("CPUQuotaPerSecUSec", Value::U64(quota_per_sec(per_sec))));
            }
            if let Some(p) = period {
                props.push(("CPUQuotaPeriodUSec", Value::U64(p)));
            }
            return props;
        }
        _ => return Vec::new(),
    };
    amount(value)
        .map(|v| vec![(name, Value::U64(v))])
        .unwrap_or_default()
}

/// A size as the kernel's memparse reads it: digits with an optional K, M,
/// G, T, P or E (powers of 1024, either case).
fn memparse(v: &str) -> Option<u64> {
    let digits = v.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let shift = match &v[digits.len()..] {
        "" => 0,
        "k" | "K" => 10,
        "m" | "M" => 20,
        "g" | "G" => 30,
        "t" | "T" => 40,
        "p" | "P" => 50,
        "e" | "E" => 60,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// systemd keeps a CPU quota as a whole percent in the unit it writes, so
/// a daemon-reload would cut 333330 µs/s to 330000: rounded up to the next
/// percent first, as runc does (systemd and the files then agree).
fn quota_per_sec(per_sec: u64) -> u64 {
    if per_sec == MAX {
        return MAX;
    }
    per_sec.div_ceil(10_000).saturating_mul(10_000)
}

fn client_err(unit: &str, what: &str, e: DbusError) -> CgroupError {
    CgroupError::Systemd(format!("{what} {unit} over D-Bus: {e}"))
}

/// Connects to the caller's manager: its private socket when we may (no
/// bus daemon in the way), else the system bus (root) or the session bus
/// (a user).
fn connect() -> Result<Connection, DbusError> {
    let (private, bus, which) = match Manager::of_caller() {
        Manager::System => (
            PRIVATE_SOCKET.into(),
            bus_path("DBUS_SYSTEM_BUS_ADDRESS").unwrap_or_else(|| SYSTEM_BUS.to_string()),
            "system",
        ),
        Manager::User(uid) => {
            let dir = user_runtime_dir(uid);
            let bus = bus_path("DBUS_SESSION_BUS_ADDRESS")
                .unwrap_or_else(|| dir.join("bus").to_string_lossy().into_owned());
            (dir.join("systemd/private"), bus, "session")
        }
    };
    match Connection::open(&private.to_string_lossy(), false) {
        Ok(conn) => Ok(conn),
        Err(e) => {
            tracing::debug!(error = %e, "systemd's private socket failed, using the {which} bus");
            Connection::open(&bus, true)
        }
    }
}

/// The `unix:path=` socket the bus address in `variable` names.
fn bus_path(variable: &str) -> Option<String> {
    std::env::var(variable).ok().and_then(|a| {
        a.split(';')
            .find_map(|t| t.strip_prefix("unix:path="))
            .map(|p| p.split(',').next().unwrap_or(p).to_string())
    })
}

/// A call on org.freedesktop.systemd1.Manager. On the private socket the
/// peer is systemd itself, so the destination is only needed on the bus;
/// systemd accepts it on both.
fn manager_call(
    conn: &mut Connection,
    member: &str,
    signature: &str,
    body: Writer,
) -> Result<Option<String>, DbusError> {
    let reply = conn.call(&Call {
        destination: Some("org.freedesktop.systemd1"),
        path: "/org/freedesktop/systemd1",
        interface: "org.freedesktop.systemd1.Manager",
        member,
        signature,
        body: body.into_bytes(),
    })?;
    Ok(reply.first_string())
}

/// Ok for systemd's NoSuchUnit error (the unit is gone already).
fn unless_no_such_unit(r: Result<Option<String>, DbusError>) -> Result<(), DbusError> {
    match r {
        Err(DbusError::Method { name, .. }) if name == NO_SUCH_UNIT => Ok(()),
        r => r.map(drop),
    }
}

/// Starts the transient scope with `pid` in it and the resource properties
/// systemd has, waits until systemd has moved the process there, and
/// returns the manager of the scope's cgroup (the resources are not
/// written to its files yet: [`CgroupManager::apply`]). On an error the
/// scope, if this call started it, is stopped again.
pub fn start_scope(
    scope: &ScopePath,
    id: &str,
    pid: i32,
    res: Option<&LinuxResources>,
) -> Result<CgroupManager, CgroupError> {
    let mut props: Vec<Property> = vec![
        ("Description", Value::Str(format!("berth container {id}"))),
        ("Slice", Value::Str(scope.slice.clone())),
        ("Delegate", Value::Bool(true)),
        ("DefaultDependencies", Value::Bool(false)),
        ("MemoryAccounting", Value::Bool(true)),
        ("CPUAccounting", Value::Bool(true)),
        ("TasksAccounting", Value::Bool(true)),
        ("IOAccounting", Value::Bool(true)),
        ("PIDs", Value::U32Array(vec![pid as u32])),
    ];
    let hierarchy = Hierarchy::of_host();
    props.extend(resource_properties(res, hierarchy));
    let mut conn = connect().map_err(|e| client_err(&scope.unit, "start", e))?;
    let mut body = Writer::new();
    body.string(&scope.unit);
    body.string("replace");
    body.properties(&props);
    // No auxiliary units: an empty a(sa(sv)).
    body.array(8, |_| {});
    let job = match manager_call(&mut conn, "StartTransientUnit", "ssa(sv)a(sa(sv))", body) {
        Ok(job) => job,
        // systemd refused: no job, and a unit of that name (UnitExists) is
        // someone else's, so there is nothing to stop.
        Err(e @ DbusError::Method { .. }) => return Err(client_err(&scope.unit, "start", e)),
        Err(e) => {
            let _ = stop_scope(&scope.unit);
            return Err(client_err(&scope.unit, "start", e));
        }
    };
    tracing::debug!(unit = %scope.unit, slice = %scope.slice, pid, job = ?job, "systemd scope started");
    let joined = wait_for_scope(scope, pid, hierarchy).and_then(|path| match hierarchy {
        Hierarchy::Unified => Ok(CgroupManager::from_paths(
            scope.unit.clone(),
            HashMap::from([(
                v2::KEY.to_string(),
                Path::new(v2::ROOT).join(path.trim_start_matches('/')),
            )]),
        )),
        Hierarchy::Legacy => CgroupManager::join_v1_scope(&scope.unit, &path, pid),
    });
    joined.inspect_err(|_| {
        let _ = stop_scope(&scope.unit);
    })
}

/// The start job runs after StartTransientUnit returns: wait until `pid`
/// is in the scope's cgroup (of systemd's own hierarchy), and return its
/// path ("/system.slice/berth-ID.scope").
fn wait_for_scope(
    scope: &ScopePath,
    pid: i32,
    hierarchy: Hierarchy,
) -> Result<String, CgroupError> {
    let deadline = Instant::now() + START_TIMEOUT;
    let suffix = format!("/{}", scope.unit);
    loop {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
        // systemd's tree: the cgroup2 one, or its named v1 hierarchy.
        let path = text.lines().find_map(|l| {
            let mut fields = l.splitn(3, ':');
            let (_, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            let systemds = match hierarchy {
                Hierarchy::Unified => controllers.is_empty(),
                Hierarchy::Legacy => controllers == "name=systemd",
            };
            systemds.then_some(path)
        });
        if let Some(path) = path.filter(|p| p.ends_with(&suffix)) {
            return Ok(path.to_string());
        }
        if Instant::now() >= deadline {
            return Err(CgroupError::Systemd(format!(
                "systemd started {} but did not move init (pid {pid}) into it within {}s (init is in {:?})",
                scope.unit,
                START_TIMEOUT.as_secs(),
                path.unwrap_or("?")
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Stops the scope (gone already is fine: systemd drops an empty scope by
/// itself), and clears a failed state so the unit does not linger.
pub fn stop_scope(unit: &str) -> Result<(), CgroupError> {
    let err = |e| client_err(unit, "stop", e);
    let mut conn = connect().map_err(err)?;
    let mut body = Writer::new();
    body.string(unit);
    body.string("replace");
    unless_no_such_unit(manager_call(&mut conn, "StopUnit", "ss", body)).map_err(err)?;
    let mut body = Writer::new();
    body.string(unit);
    unless_no_such_unit(manager_call(&mut conn, "ResetFailedUnit", "s", body)).map_err(err)
}

/// Tells systemd the new limits of an `update`, so it keeps them (a unit
/// that is gone has nothing to keep them for).
pub fn set_properties(unit: &str, res: &LinuxResources) -> Result<(), CgroupError> {
    let props = resource_properties(Some(res), Hierarchy::of_host());
    if props.is_empty() {
        return Ok(());
    }
    let err = |e| client_err(unit, "update", e);
    let mut conn = connect().map_err(err)?;
    let mut body = Writer::new();
    body.string(unit);
    match manager_call(&mut conn, "GetUnit", "s", body) {
        Err(DbusError::Method { name, .. }) if name == NO_SUCH_UNIT => return Ok(()),
        r => r.map_err(err)?,
    };
    let mut body = Writer::new();
    body.string(unit);
    // runtime: the values last until the unit goes, as the scope does.
    body.bool(true);
    body.properties(&props);
    manager_call(&mut conn, "SetUnitProperties", "sba(sv)", body)
        .map(drop)
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_path_form() {
        let p = parse_path(Some("system.slice:berth:web"), "x").unwrap();
        assert_eq!(p.slice, "system.slice");
        assert_eq!(p.unit, "berth-web.scope");
        let p = parse_path_for(Manager::System, Some(":berth:web"), "x").unwrap();
        assert_eq!(p.slice, "system.slice");
        let p = parse_path_for(Manager::User(1000), Some(":berth:web"), "x").unwrap();
        assert_eq!(p.slice, "user.slice");
        let p = parse_path(None, "abc").unwrap();
        assert_eq!(p.unit, "berth-abc.scope");
        let p = parse_path(Some("machine.slice::web"), "x").unwrap();
        assert_eq!(p.unit, "web.scope");
    }

    #[test]
    fn bad_paths_name_the_field_and_value() {
        for bad in [
            "/berth/web",
            "a:b",
            "a:b:c:d",
            "system:berth:web",
            "system.slice:berth:",
            "system.slice:berth:x.slice",
            "system.slice:be/rth:web",
        ] {
            let e = parse_path(Some(bad), "x").unwrap_err().to_string();
            assert!(e.starts_with("linux.cgroupsPath: "), "{e}");
            assert!(e.contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn properties_follow_runcs_conversions() {
        let res: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 67108864, "swap": 100663296, "reservation": 1048576},
            "pids": {"limit": 32},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000}
        }))
        .unwrap();
        let props = resource_properties(Some(&res), Hierarchy::Unified);
        let get = |k: &str| match props.iter().find(|p| p.0 == k) {
            Some((_, Value::U64(v))) => Some(*v),
            _ => None,
        };
        assert_eq!(get("MemoryMax"), Some(67108864));
        assert_eq!(get("MemoryLow"), Some(1048576));
        assert_eq!(get("MemorySwapMax"), Some(33554432));
        assert_eq!(get("TasksMax"), Some(32));
        assert_eq!(get("CPUWeight"), Some(39));
        assert_eq!(get("CPUQuotaPerSecUSec"), Some(500000));
        assert_eq!(get("CPUQuotaPeriodUSec"), Some(100000));
        let unlimited: LinuxResources = serde_json::from_value(
            serde_json::json!({"memory": {"limit": -1}, "pids": {"limit": -1}}),
        )
        .unwrap();
        let props = resource_properties(Some(&unlimited), Hierarchy::Unified);
        assert!(props.iter().all(|p| p.1 == Value::U64(u64::MAX)));
    }

    #[test]
    fn unified_keys_systemd_manages_become_properties() {
        let res: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 67108864},
            "blockIO": {"weight": 500},
            "unified": {"memory.high": "50331648", "memory.min": "max",
                        "cpu.max": "25000 50000", "io.latency": "8:0 target=10"}
        }))
        .unwrap();
        let props = resource_properties(Some(&res), Hierarchy::Unified);
        for want in [
            ("MemoryMax", Value::U64(67108864)),
            ("MemoryHigh", Value::U64(50331648)),
            ("MemoryMin", Value::U64(u64::MAX)),
            ("CPUQuotaPerSecUSec", Value::U64(500000)),
            ("CPUQuotaPeriodUSec", Value::U64(50000)),
            ("IOWeight", Value::U64(4950)),
        ] {
            assert!(props.contains(&want), "{want:?} missing from {props:?}");
        }
        assert_eq!(props.len(), 6, "{props:?}");
        assert_eq!(
            unified_property("io.weight", "default 300"),
            vec![("IOWeight", Value::U64(300))]
        );
        assert!(unified_property("io.weight", "8:0 300").is_empty());
        assert_eq!(
            unified_property("memory.max", "1G"),
            vec![("MemoryMax", Value::U64(1 << 30))]
        );
        assert_eq!(
            unified_property("memory.high", "64k"),
            vec![("MemoryHigh", Value::U64(65536))]
        );
        assert!(unified_property("memory.high", "lots").is_empty());
        // 33333/100000 is 33.333%: systemd would keep 33%, so 34% it is.
        assert_eq!(
            unified_property("cpu.max", "33333 100000")[0],
            ("CPUQuotaPerSecUSec", Value::U64(340000))
        );
        // v1 has no unified map.
        assert_eq!(resource_properties(Some(&res), Hierarchy::Legacy).len(), 1);
    }

    #[test]
    fn a_v1_host_gets_the_v1_property_names() {
        let res: LinuxResources = serde_json::from_value(serde_json::json!({
            "memory": {"limit": 67108864, "swap": 100663296, "reservation": 1048576},
            "pids": {"limit": 32},
            "cpu": {"shares": 512, "quota": 50000, "period": 100000}
        }))
        .unwrap();
        let props = resource_properties(Some(&res), Hierarchy::Legacy);
        let names: Vec<&str> = props.iter().map(|p| p.0).collect();
        assert_eq!(
            names,
            [
                "MemoryLimit",
                "TasksMax",
                "CPUShares",
                "CPUQuotaPerSecUSec",
                "CPUQuotaPeriodUSec"
            ]
        );
        assert!(props.contains(&("MemoryLimit", Value::U64(67108864))));
        assert!(props.contains(&("CPUShares", Value::U64(512))));
    }
}
