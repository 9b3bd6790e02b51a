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
    /// MOUNT_ATTR_* to set recursively (rro, rnosuid …).
    pub recursive_set: u64,
    /// MOUNT_ATTR_* to clear recursively (rrw, rsuid …).
    pub recursive_clr: u64,
    /// nosymfollow on the mount itself.
    pub nosymfollow: bool,
    /// tmpcopyup: fill a new tmpfs with what the directory held before.
    pub copy_up: bool,
    /// idmap or ridmap: an idmapped bind mount (made by the runtime, see
    /// [`super::idmap`]).
    pub idmap: bool,
    /// ridmap: the idmapping covers the submounts too.
    pub ridmap: bool,
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
const NOT_YET: &[&str] = &[];

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const MOUNT_ATTR_NOEXEC: u64 = 0x8;
const MOUNT_ATTR_ATIME: u64 = 0x70;
const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x200000;

/// (name, set?, attribute) of the recursive options, applied with
/// mount_setattr(AT_RECURSIVE) to the whole mounted tree. The atime modes
/// clear the whole atime field before setting theirs.
const RECURSIVE_OPTIONS: &[(&str, bool, u64)] = &[
    ("rro", true, MOUNT_ATTR_RDONLY),
    ("rrw", false, MOUNT_ATTR_RDONLY),
    ("rnosuid", true, MOUNT_ATTR_NOSUID),
    ("rsuid", false, MOUNT_ATTR_NOSUID),
    ("rnodev", true, MOUNT_ATTR_NODEV),
    ("rdev", false, MOUNT_ATTR_NODEV),
    ("rnoexec", true, MOUNT_ATTR_NOEXEC),
    ("rexec", false, MOUNT_ATTR_NOEXEC),
    ("rnodiratime", true, MOUNT_ATTR_NODIRATIME),
    ("rdiratime", false, MOUNT_ATTR_NODIRATIME),
    ("rnosymfollow", true, MOUNT_ATTR_NOSYMFOLLOW),
    ("rsymfollow", false, MOUNT_ATTR_NOSYMFOLLOW),
    ("rnoatime", true, MOUNT_ATTR_NOATIME),
    ("rstrictatime", true, MOUNT_ATTR_STRICTATIME),
    ("rrelatime", true, 0),
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
        "nosymfollow",
        "tmpcopyup",
        "idmap",
        "ridmap",
    ]);
    names.extend(RECURSIVE_OPTIONS.iter().map(|(n, _, _)| *n));
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

/// Refuses a mount whose `type` is "bind" or "rbind" while its options hold
/// neither "bind" nor "rbind". Neither is a filesystem type: a bind mount is
/// asked for in `options`, and the type alone makes mount(2) fail with
/// ENODEV ("No such device"). runc 1.1 and crun 1.8 fail on such a mount
/// the same way; berth says why instead. Returns the message for the
/// error at `mounts[N].type`.
pub fn check_type(typ: Option<&str>, options: &[String]) -> Result<(), String> {
    let Some(typ @ ("bind" | "rbind")) = typ else {
        return Ok(());
    };
    if parse(options).is_bind() {
        return Ok(());
    }
    Err(format!(
        "{typ:?} is not a filesystem type and does not make a bind mount by itself: \
         put \"rbind\" (or \"bind\") in this mount's options (options: {options:?})"
    ))
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
        } else if let Some(&(name, set, attr)) = RECURSIVE_OPTIONS.iter().find(|(n, _, _)| n == opt)
        {
            let atime = name.ends_with("atime") && name != "rnodiratime" && name != "rdiratime";
            if atime {
                // The kernel changes the atime mode only with the whole
                // MOUNT_ATTR__ATIME field cleared and one mode set.
                parsed.recursive_clr |= MOUNT_ATTR_ATIME;
                parsed.recursive_set &= !MOUNT_ATTR_ATIME;
                parsed.recursive_set |= attr;
            } else if set {
                parsed.recursive_set |= attr;
                parsed.recursive_clr &= !attr;
            } else {
                parsed.recursive_clr |= attr;
                parsed.recursive_set &= !attr;
            }
        } else if opt == "tmpcopyup" {
            parsed.copy_up = true;
        } else if opt == "idmap" {
            parsed.idmap = true;
        } else if opt == "ridmap" {
            parsed.idmap = true;
            parsed.ridmap = true;
        } else if opt == "nosymfollow" {
            // No MS_ flag exists for it: applied to the mount itself below.
            parsed.nosymfollow = true;
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
    fn recursive_atime_clears_the_whole_field() {
        for (opt, mode) in [
            ("rnoatime", MOUNT_ATTR_NOATIME),
            ("rstrictatime", MOUNT_ATTR_STRICTATIME),
            ("rrelatime", 0),
        ] {
            let p = parse(&[opt.to_string()]);
            assert_eq!(p.recursive_clr, MOUNT_ATTR_ATIME, "{opt}");
            assert_eq!(p.recursive_set, mode, "{opt}");
        }
    }

    #[test]
    fn bind_type_needs_a_bind_option() {
        let v = |o: &[&str]| o.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let err = check_type(Some("bind"), &v(&["ro"])).unwrap_err();
        assert!(
            err.starts_with("\"bind\" is not a filesystem type"),
            "{err}"
        );
        assert!(err.contains("[\"ro\"]"), "{err}");
        assert!(check_type(Some("rbind"), &[]).is_err());
        assert!(check_type(Some("bind"), &v(&["rbind", "ro"])).is_ok());
        assert!(check_type(Some("bind"), &v(&["bind"])).is_ok());
        // "rw" after "bind" clears only MS_RDONLY: still a bind mount.
        assert!(check_type(Some("bind"), &v(&["bind", "rw"])).is_ok());
        assert!(check_type(Some("tmpfs"), &[]).is_ok());
        assert!(check_type(None, &[]).is_ok());
        // Any type with a bind option is a bind mount (the type is ignored).
        assert!(check_type(Some("none"), &v(&["rbind"])).is_ok());
    }

    #[test]
    fn idmap_options_are_not_mount_data() {
        let opts: Vec<String> = ["rbind", "ridmap"].iter().map(|s| s.to_string()).collect();
        let p = parse(&opts);
        assert!(p.idmap && p.ridmap);
        assert_eq!(p.data, "");
        assert!(check_option("idmap").is_ok());
    }
}
