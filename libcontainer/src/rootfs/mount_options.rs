//! Translating the OCI mount option strings into mount(2) flags and data.

/// What a list of mount options asks for.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ParsedOptions {
    /// MS_* flags to set.
    pub flags: libc::c_ulong,
    /// Propagation flags (MS_SHARED, MS_SLAVE …, with MS_REC) applied after the mount.
    pub propagation: Vec<libc::c_ulong>,
    /// Filesystem-specific options passed as mount data ("mode=755,size=64k").
    pub data: String,
}

impl ParsedOptions {
    /// Whether this is a bind mount.
    pub fn is_bind(&self) -> bool {
        self.flags & libc::MS_BIND != 0
    }
}

/// The propagation flags of a mode name ("rslave", "private" …).
pub fn propagation_flag(name: &str) -> Option<libc::c_ulong> {
    Some(match name {
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | libc::MS_REC,
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | libc::MS_REC,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | libc::MS_REC,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | libc::MS_REC,
        _ => return None,
    })
}

/// (name, set?, flag) for every flag option.
const FLAG_OPTIONS: &[(&str, bool, libc::c_ulong)] = &[
    ("defaults", true, 0),
    ("ro", true, libc::MS_RDONLY),
    ("rw", false, libc::MS_RDONLY),
    ("suid", false, libc::MS_NOSUID),
    ("nosuid", true, libc::MS_NOSUID),
    ("dev", false, libc::MS_NODEV),
    ("nodev", true, libc::MS_NODEV),
    ("exec", false, libc::MS_NOEXEC),
    ("noexec", true, libc::MS_NOEXEC),
    ("sync", true, libc::MS_SYNCHRONOUS),
    ("async", false, libc::MS_SYNCHRONOUS),
    ("dirsync", true, libc::MS_DIRSYNC),
    ("remount", true, libc::MS_REMOUNT),
    ("mand", true, libc::MS_MANDLOCK),
    ("nomand", false, libc::MS_MANDLOCK),
    ("atime", false, libc::MS_NOATIME),
    ("noatime", true, libc::MS_NOATIME),
    ("diratime", false, libc::MS_NODIRATIME),
    ("nodiratime", true, libc::MS_NODIRATIME),
    ("bind", true, libc::MS_BIND),
    ("rbind", true, libc::MS_BIND | libc::MS_REC),
    ("relatime", true, libc::MS_RELATIME),
    ("norelatime", false, libc::MS_RELATIME),
    ("strictatime", true, libc::MS_STRICTATIME),
    ("nostrictatime", false, libc::MS_STRICTATIME),
    ("lazytime", true, libc::MS_LAZYTIME),
    ("nolazytime", false, libc::MS_LAZYTIME),
    ("silent", true, libc::MS_SILENT),
    ("loud", false, libc::MS_SILENT),
];

/// Options that need machinery berth does not have yet: refused clearly
/// instead of being passed to the kernel as data or dropped.
const NOT_YET: &[&str] = &[
    "idmap",
    "ridmap",
    "tmpcopyup",
    "rro",
    "rrw",
    "rnosuid",
    "rsuid",
    "rnodev",
    "rdev",
    "rnoexec",
    "rexec",
    "rnoatime",
    "ratime",
    "rnodiratime",
    "rdiratime",
    "rrelatime",
    "rnorelatime",
    "rstrictatime",
    "rnostrictatime",
    "nosymfollow",
    "rnosymfollow",
];

/// Every mount option name berth applies (for `features`).
pub fn known_options() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = FLAG_OPTIONS.iter().map(|(n, _, _)| *n).collect();
    names.extend([
        "private",
        "rprivate",
        "shared",
        "rshared",
        "slave",
        "rslave",
        "unbindable",
        "runbindable",
    ]);
    names.sort_unstable();
    names
}

/// Refuses options berth cannot apply yet; returns a description of the problem.
pub fn check_option(opt: &str) -> Result<(), String> {
    if NOT_YET.contains(&opt) {
        return Err(format!("mount option {opt:?}"));
    }
    Ok(())
}

/// Parses a mount's options.
pub fn parse(options: &[String]) -> ParsedOptions {
    let mut parsed = ParsedOptions::default();
    let mut data = Vec::new();
    for opt in options {
        if let Some(&(_, set, flag)) = FLAG_OPTIONS.iter().find(|(n, _, _)| n == opt) {
            if set {
                parsed.flags |= flag;
            } else {
                parsed.flags &= !flag;
            }
        } else if let Some(p) = propagation_flag(opt) {
            parsed.propagation.push(p);
        } else {
            data.push(opt.as_str());
        }
    }
    parsed.data = data.join(",");
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_propagation_and_data_are_separated() {
        let opts: Vec<String> = ["nosuid", "rbind", "ro", "rslave", "mode=755", "size=64k"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = parse(&opts);
        assert_eq!(
            p.flags,
            libc::MS_NOSUID | libc::MS_BIND | libc::MS_REC | libc::MS_RDONLY
        );
        assert_eq!(p.propagation, vec![libc::MS_SLAVE | libc::MS_REC]);
        assert_eq!(p.data, "mode=755,size=64k");
        assert!(p.is_bind());
    }

    #[test]
    fn later_option_wins() {
        let opts: Vec<String> = ["ro", "rw"].iter().map(|s| s.to_string()).collect();
        assert_eq!(parse(&opts).flags & libc::MS_RDONLY, 0);
    }

    #[test]
    fn unsupported_options_are_refused() {
        assert!(check_option("idmap").is_err());
        assert!(check_option("nosuid").is_ok());
    }
}
