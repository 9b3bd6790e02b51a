//! runc's cgroup commands: `update`, `pause`, `resume`, `ps` and `events`.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use berth::Container;
use clap::{Args, ValueEnum};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};

fn err(e: berth::Error) -> String {
    e.to_string()
}

#[derive(Args)]
pub struct UpdateArgs {
    /// Path to a JSON file with the resources to update (linux.resources), or '-' for stdin
    #[arg(short = 'r', long = "resources")]
    resources: Option<String>,
    /// Per-cgroup block I/O weight, 10 to 1000
    #[arg(long = "blkio-weight")]
    blkio_weight: Option<u16>,
    /// CPU CFS period in µs (hard capping)
    #[arg(long = "cpu-period")]
    cpu_period: Option<u64>,
    /// CPU CFS quota in µs per period (-1: no limit)
    #[arg(long = "cpu-quota", allow_negative_numbers = true)]
    cpu_quota: Option<i64>,
    /// CPU shares (relative weight against other containers)
    #[arg(long = "cpu-shares", visible_alias = "cpu-share")]
    cpu_shares: Option<u64>,
    /// CPU realtime period in µs
    #[arg(long = "cpu-rt-period")]
    cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in µs per realtime period (-1: no limit)
    #[arg(long = "cpu-rt-runtime", allow_negative_numbers = true)]
    cpu_rt_runtime: Option<i64>,
    /// CPUs to use (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    cpuset_cpus: Option<String>,
    /// Memory nodes to use (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    cpuset_mems: Option<String>,
    /// Kernel memory limit (bytes, or with k, m, g suffix; -1: no limit)
    #[arg(long = "kernel-memory", allow_negative_numbers = true)]
    kernel_memory: Option<String>,
    /// Kernel memory limit for TCP buffers
    #[arg(long = "kernel-memory-tcp", allow_negative_numbers = true)]
    kernel_memory_tcp: Option<String>,
    /// Memory limit (bytes, or with k, m, g suffix; -1: no limit)
    #[arg(long = "memory", allow_negative_numbers = true)]
    memory: Option<String>,
    /// Memory reservation (soft limit)
    #[arg(long = "memory-reservation", allow_negative_numbers = true)]
    memory_reservation: Option<String>,
    /// Total memory plus swap (-1: unlimited swap)
    #[arg(long = "memory-swap", allow_negative_numbers = true)]
    memory_swap: Option<String>,
    /// Maximum number of tasks (-1: no limit)
    #[arg(long = "pids-limit", allow_negative_numbers = true)]
    pids_limit: Option<i64>,
    /// Intel RDT L3 cache schema
    #[arg(long = "l3-cache-schema")]
    l3_cache_schema: Option<String>,
    /// Intel RDT memory bandwidth schema
    #[arg(long = "mem-bw-schema")]
    mem_bw_schema: Option<String>,
    /// Container ID
    id: String,
}

/// A size like docker's and runc's: "1024", "8m", "1.5G", "512KiB"; "-1"
/// is no limit. Units are binary.
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "{s:?} is not a size (bytes, or a number with a k, m, g, t or p suffix; -1 for no limit)"
        )
    };
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    let v = n * mult;
    if !v.is_finite() || v >= i64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as i64)
}

fn bytes_flag(name: &str, v: &Option<String>) -> Result<Option<i64>, String> {
    v.as_deref()
        .map(|s| parse_bytes(s).map_err(|e| format!("--{name}: {e}")))
        .transpose()
}

impl UpdateArgs {
    fn any_flag(&self) -> bool {
        self.blkio_weight.is_some()
            || self.cpu_period.is_some()
            || self.cpu_quota.is_some()
            || self.cpu_shares.is_some()
            || self.cpu_rt_period.is_some()
            || self.cpu_rt_runtime.is_some()
            || self.cpuset_cpus.is_some()
            || self.cpuset_mems.is_some()
            || self.kernel_memory.is_some()
            || self.kernel_memory_tcp.is_some()
            || self.memory.is_some()
            || self.memory_reservation.is_some()
            || self.memory_swap.is_some()
            || self.pids_limit.is_some()
    }

    /// The resources the flags ask for (unset flags stay unset).
    fn to_resources(&self) -> Result<LinuxResources, String> {
        let mut res = LinuxResources::default();
        let mut mem = LinuxMemory::default();
        mem.set_limit(bytes_flag("memory", &self.memory)?);
        mem.set_reservation(bytes_flag("memory-reservation", &self.memory_reservation)?);
        mem.set_swap(bytes_flag("memory-swap", &self.memory_swap)?);
        mem.set_kernel(bytes_flag("kernel-memory", &self.kernel_memory)?);
        mem.set_kernel_tcp(bytes_flag("kernel-memory-tcp", &self.kernel_memory_tcp)?);
        if mem != LinuxMemory::default() {
            res.set_memory(Some(mem));
        }
        let mut cpu = LinuxCpu::default();
        cpu.set_shares(self.cpu_shares);
        cpu.set_quota(self.cpu_quota);
        cpu.set_period(self.cpu_period);
        cpu.set_realtime_runtime(self.cpu_rt_runtime);
        cpu.set_realtime_period(self.cpu_rt_period);
        cpu.set_cpus(self.cpuset_cpus.clone());
        cpu.set_mems(self.cpuset_mems.clone());
        if cpu != LinuxCpu::default() {
            res.set_cpu(Some(cpu));
        }
        if let Some(limit) = self.pids_limit {
            let mut p = LinuxPids::default();
            p.set_limit(limit);
            res.set_pids(Some(p));
        }
        if let Some(w) = self.blkio_weight {
            let mut b = LinuxBlockIo::default();
            b.set_weight(Some(w));
            res.set_block_io(Some(b));
        }
        Ok(res)
    }
}

fn read_resources(source: &str) -> Result<LinuxResources, String> {
    let text = if source == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("--resources: reading stdin: {e}"))?;
        s
    } else {
        std::fs::read_to_string(source).map_err(|e| format!("--resources: {source}: {e}"))?
    };
    let shown = if source == "-" { "stdin" } else { source };
    serde_json::from_str(&text)
        .map_err(|e| format!("--resources: {shown} is not a valid linux.resources object: {e}"))
}

fn no_rdt(flag: &str) -> String {
    let why = if Path::new("/sys/fs/resctrl/schemata").exists() {
        "berth does not implement Intel RDT (linux.intelRdt) yet"
    } else {
        "Intel RDT needs the resctrl filesystem, which is not mounted on this host \
         (no /sys/fs/resctrl), and berth does not implement linux.intelRdt yet"
    };
    format!("--{flag}: {why}")
}

/// `berth update [flags | -r FILE] ID`.
pub fn update(root: &Path, a: &UpdateArgs) -> Result<u8, String> {
    if a.l3_cache_schema.is_some() {
        return Err(no_rdt("l3-cache-schema"));
    }
    if a.mem_bw_schema.is_some() {
        return Err(no_rdt("mem-bw-schema"));
    }
    let res = match &a.resources {
        Some(_) if a.any_flag() => {
            return Err("--resources replaces the other update flags: give one or the other".into())
        }
        Some(src) => read_resources(src)?,
        None => a.to_resources()?,
    };
    Container::load(root, &a.id)
        .and_then(|c| c.update(&res))
        .map_err(err)?;
    Ok(0)
}

/// `berth pause ID`.
pub fn pause(root: &Path, id: &str) -> Result<u8, String> {
    Container::load(root, id)
        .and_then(|c| c.pause())
        .map_err(err)?;
    Ok(0)
}

/// `berth resume ID`.
pub fn resume(root: &Path, id: &str) -> Result<u8, String> {
    Container::load(root, id)
        .and_then(|c| c.resume())
        .map_err(err)?;
    Ok(0)
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PsFormat {
    /// `ps` output filtered to the container's processes
    Table,
    /// A JSON array of the container's host pids
    Json,
}

#[derive(Args)]
pub struct PsArgs {
    /// Output format
    #[arg(short, long, value_enum, default_value = "table")]
    format: PsFormat,
    /// Container ID
    id: String,
    /// Options for ps(1) (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    ps_args: Vec<String>,
}

/// `berth ps [--format table|json] ID [ps options]`.
pub fn ps(root: &Path, a: &PsArgs) -> Result<u8, String> {
    let pids = Container::load(root, &a.id)
        .and_then(|c| c.processes())
        .map_err(err)?;
    let mut out = std::io::stdout().lock();
    let w =
        |out: &mut std::io::StdoutLock, s: &str| writeln!(out, "{s}").map_err(|e| e.to_string());
    match a.format {
        PsFormat::Json => {
            let text = serde_json::to_string(&pids).map_err(|e| e.to_string())?;
            w(&mut out, &text)
        }
        PsFormat::Table => {
            let args: Vec<String> = if a.ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                a.ps_args.clone()
            };
            let output = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| format!("running ps: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "ps {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
            let text = String::from_utf8_lossy(&output.stdout);
            for line in filter_ps(&text, &pids)? {
                w(&mut out, line)?;
            }
            Ok(())
        }
    }?;
    Ok(0)
}

/// The header of `ps` output and the lines whose PID column is one of `pids`.
pub fn filter_ps<'a>(text: &'a str, pids: &[i32]) -> Result<Vec<&'a str>, String> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|f| f == "PID")
        .ok_or("the ps output has no PID column: the ps options must include it")?;
    let mut out = vec![header];
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok());
        if pid.is_some_and(|p| pids.contains(&p)) {
            out.push(line);
        }
    }
    Ok(out)
}

#[derive(Args)]
pub struct EventsArgs {
    /// Print the container's statistics once and exit
    #[arg(long)]
    stats: bool,
    /// Time between two statistics events (Go duration: 5s, 500ms, 1m30s)
    #[arg(long, default_value = "5s")]
    interval: String,
    /// Container ID
    id: String,
}

/// A Go duration: "5s", "1.5h", "2m30s", "300ms", "10us"; "0" alone.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration like 5s, 500ms or 1m30s");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..n_end].parse().map_err(|_| bad())?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..u_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += n * secs;
        rest = &rest[u_end..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// `berth events [--stats] [--interval D] ID`.
pub fn events(root: &Path, a: &EventsArgs) -> Result<u8, String> {
    let interval = parse_duration(&a.interval).map_err(|e| format!("--interval: {e}"))?;
    if interval.is_zero() {
        return Err("--interval: the interval must be greater than 0".into());
    }
    let c = Container::load(root, &a.id).map_err(err)?;
    let mut out = std::io::stdout().lock();
    let mut emit = |e: &berth::cgroups::stats::Event| -> std::io::Result<()> {
        let text = serde_json::to_string(e).map_err(std::io::Error::other)?;
        writeln!(out, "{text}")?;
        out.flush()
    };
    if a.stats {
        let stats = c.stats().map_err(err)?;
        emit(&berth::cgroups::stats::Event {
            kind: "stats".into(),
            id: a.id.clone(),
            data: Some(stats),
        })
        .map_err(|e| e.to_string())?;
        return Ok(0);
    }
    match c.events(interval, &mut emit) {
        Ok(()) => Ok(0),
        // The reader went away: nothing left to do.
        Err(berth::Error::Sys { source, .. })
            if source.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            Ok(0)
        }
        Err(e) => Err(err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("-1"), Ok(-1));
        assert_eq!(parse_bytes("8m"), Ok(8 << 20));
        assert_eq!(parse_bytes("8M"), Ok(8 << 20));
        assert_eq!(parse_bytes("8MB"), Ok(8 << 20));
        assert_eq!(parse_bytes("8MiB"), Ok(8 << 20));
        assert_eq!(parse_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(parse_bytes("512k"), Ok(512 << 10));
        for bad in ["", "m", "8x", "-5", "1e3", "8 mb mb"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "5", "s", "5x", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ps_filter_keeps_the_header_and_our_pids() {
        let text = "UID  PID  PPID  C STIME TTY TIME CMD\n\
                    root 1    0     0 10:00 ?   0:01 init\n\
                    root 42   1     0 10:00 ?   0:00 sleep 10\n\
                    root 420  1     0 10:00 ?   0:00 sleep 42\n";
        let lines = filter_ps(text, &[42]).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].contains("sleep 10"));
        assert!(filter_ps("USER COMMAND\n", &[1]).is_err());
    }
}
