//! The cgroup v2 device controller: an eBPF program of type
//! `BPF_PROG_TYPE_CGROUP_DEVICE`, assembled here instruction by instruction,
//! loaded with `bpf(BPF_PROG_LOAD)` and attached to the container's cgroup.
//!
//! The kernel runs the program on every open and mknod of a device node by
//! a process of the cgroup, with a `struct bpf_cgroup_dev_ctx`:
//!
//! ```text
//! offset 0  u32 access_type   low 16 bits: BPF_DEVCG_DEV_BLOCK (1) or _CHAR (2)
//!                             high 16 bits: BPF_DEVCG_ACC_MKNOD (1) | _READ (2) | _WRITE (4)
//! offset 4  u32 major
//! offset 8  u32 minor
//! ```
//!
//! and allows the access when it returns 1.
//!
//! ## Semantics of the rule list
//!
//! The list is `linux.resources.devices` followed by the devices every
//! container may use (runc's default list), and it means what writing the
//! rules one by one to v1's `devices.allow`/`devices.deny` means:
//!
//! * a rule of type `a` with any major, any minor and all of `rwm` resets
//!   everything before it: the default becomes allow or deny;
//! * otherwise a later rule overrides an earlier one, access bit by access
//!   bit: the request is allowed when, for each of its bits, the last rule
//!   that matches the device and names the bit allows it (or no rule names
//!   it and the default is allow);
//! * without a wildcard rule the default is deny.
//!
//! The program walks the rules from the last to the first, keeping the
//! request's undecided access bits in a register: a matching deny rule that
//! shares a bit refuses at once, a matching allow rule clears its bits, and
//! the request is allowed once none are left. What is left at the end gets
//! the default.

use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::CgroupError;
use crate::sys;

/// `BPF_PROG_TYPE_CGROUP_DEVICE`.
const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `BPF_CGROUP_DEVICE` (attach type).
const ATTACH_CGROUP_DEVICE: u32 = 6;
/// `BPF_F_ALLOW_MULTI`: other programs (a parent's, an older one of ours)
/// may stay attached; every one must allow an access.
const F_ALLOW_MULTI: u32 = 1 << 1;
/// `BPF_F_REPLACE`: swap the program given as `replace_bpf_fd` atomically.
const F_REPLACE: u32 = 1 << 2;

/// The name berth's programs are loaded with, to find them again on update.
pub(super) const PROG_NAME: &str = "berth_devices";

// ---------------------------------------------------------------------------
// Instruction encoding (struct bpf_insn: u8 code, u8 dst:4 src:4, s16 off,
// s32 imm), for the few instructions the device filter needs.
// ---------------------------------------------------------------------------

/// A register, r0 to r10.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reg(u8);

pub(super) const R0: Reg = Reg(0);
pub(super) const R1: Reg = Reg(1);
pub(super) const R2: Reg = Reg(2);
pub(super) const R3: Reg = Reg(3);
pub(super) const R4: Reg = Reg(4);
pub(super) const R5: Reg = Reg(5);

// Instruction classes.
const CLASS_LDX: u8 = 0x01;
const CLASS_JMP: u8 = 0x05;
const CLASS_ALU: u8 = 0x04; // 32-bit
const CLASS_JMP32: u8 = 0x06;
const CLASS_ALU64: u8 = 0x07;
// Size and mode of loads.
const SIZE_W: u8 = 0x00;
const MODE_MEM: u8 = 0x60;
// Source: immediate (K) or register (X).
const SRC_K: u8 = 0x00;
const SRC_X: u8 = 0x08;
// ALU operations.
const ALU_AND: u8 = 0x50;
const ALU_RSH: u8 = 0x70;
const ALU_MOV: u8 = 0xb0;
// Jump operations.
const JMP_JEQ: u8 = 0x10;
const JMP_JNE: u8 = 0x50;
const JMP_EXIT: u8 = 0x90;

/// One eBPF instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Insn {
    pub(super) code: u8,
    pub(super) dst: Reg,
    pub(super) src: Reg,
    pub(super) off: i16,
    pub(super) imm: i32,
}

impl Insn {
    fn new(code: u8, dst: Reg, src: Reg, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            dst,
            src,
            off,
            imm,
        }
    }

    /// The 8 bytes the kernel reads (little-endian on x86; the register
    /// nibbles follow the bitfield order of the host's byte order).
    pub(super) fn encode(&self) -> [u8; 8] {
        let regs = if cfg!(target_endian = "little") {
            (self.src.0 << 4) | (self.dst.0 & 0x0f)
        } else {
            (self.dst.0 << 4) | (self.src.0 & 0x0f)
        };
        let off = self.off.to_ne_bytes();
        let imm = self.imm.to_ne_bytes();
        [
            self.code, regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3],
        ]
    }
}

/// `dst = *(u32 *)(src + off)`
pub(super) fn ldx_w(dst: Reg, src: Reg, off: i16) -> Insn {
    Insn::new(CLASS_LDX | SIZE_W | MODE_MEM, dst, src, off, 0)
}

/// `wdst = wsrc` (32-bit move, upper half zeroed)
pub(super) fn mov32_reg(dst: Reg, src: Reg) -> Insn {
    Insn::new(CLASS_ALU | ALU_MOV | SRC_X, dst, src, 0, 0)
}

/// `dst = imm` (64-bit)
pub(super) fn mov64_imm(dst: Reg, imm: i32) -> Insn {
    Insn::new(CLASS_ALU64 | ALU_MOV | SRC_K, dst, R0, 0, imm)
}

/// `wdst &= imm`
pub(super) fn and32_imm(dst: Reg, imm: i32) -> Insn {
    Insn::new(CLASS_ALU | ALU_AND | SRC_K, dst, R0, 0, imm)
}

/// `wdst >>= imm`
pub(super) fn rsh32_imm(dst: Reg, imm: i32) -> Insn {
    Insn::new(CLASS_ALU | ALU_RSH | SRC_K, dst, R0, 0, imm)
}

/// `if wdst != imm goto +off` (32-bit compare)
pub(super) fn jne32_imm(dst: Reg, imm: u32, off: i16) -> Insn {
    Insn::new(CLASS_JMP32 | JMP_JNE | SRC_K, dst, R0, off, imm as i32)
}

/// `if wdst == imm goto +off` (32-bit compare)
pub(super) fn jeq32_imm(dst: Reg, imm: u32, off: i16) -> Insn {
    Insn::new(CLASS_JMP32 | JMP_JEQ | SRC_K, dst, R0, off, imm as i32)
}

/// `exit` (returns r0)
pub(super) fn exit() -> Insn {
    Insn::new(CLASS_JMP | JMP_EXIT, R0, R0, 0, 0)
}

// ---------------------------------------------------------------------------
// The rules and the program.
// ---------------------------------------------------------------------------

/// `BPF_DEVCG_DEV_BLOCK` / `BPF_DEVCG_DEV_CHAR`.
const DEV_BLOCK: u32 = 1;
const DEV_CHAR: u32 = 2;
/// `BPF_DEVCG_ACC_*`.
const ACC_MKNOD: u32 = 1;
const ACC_READ: u32 = 2;
const ACC_WRITE: u32 = 4;
const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// One device rule in the program's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rule {
    pub(super) allow: bool,
    /// `None`: block and char.
    pub(super) typ: Option<u32>,
    pub(super) major: Option<u32>,
    pub(super) minor: Option<u32>,
    /// ACC_* bits.
    pub(super) access: u32,
}

impl Rule {
    fn is_wildcard(&self) -> bool {
        self.typ.is_none() && self.major.is_none() && self.minor.is_none() && self.access == ACC_ALL
    }
}

/// A spec rule in the program's terms; the error names what is wrong.
pub(super) fn rule_from_spec(r: &LinuxDeviceCgroup) -> Result<Rule, String> {
    let typ = match r.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => None,
        LinuxDeviceType::C | LinuxDeviceType::U => Some(DEV_CHAR),
        LinuxDeviceType::B => Some(DEV_BLOCK),
        LinuxDeviceType::P => {
            return Err("type \"p\" is not a cgroup device type (use a, c or b)".into())
        }
    };
    let number = |name: &str, v: Option<i64>| -> Result<Option<u32>, String> {
        match v {
            None | Some(-1) => Ok(None),
            Some(n) => u32::try_from(n).map(Some).map_err(|_| {
                format!("{name} {n} is not a device number (0 to 4294967295, or -1: any)")
            }),
        }
    };
    let major = number("major", r.major())?;
    let minor = number("minor", r.minor())?;
    let access_str = r.access().clone().unwrap_or_else(|| "rwm".into());
    let mut access = 0;
    for c in access_str.chars() {
        access |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => {
                return Err(format!(
                    "access {access_str:?} is not a combination of r, w and m"
                ))
            }
        };
    }
    if access == 0 {
        return Err(format!(
            "access {access_str:?} is not a combination of r, w and m"
        ));
    }
    Ok(Rule {
        allow: r.allow(),
        typ,
        major,
        minor,
        access,
    })
}

/// The rules that decide (after the last wildcard) and the default.
pub(super) fn effective(rules: &[Rule]) -> (&[Rule], bool) {
    match rules.iter().rposition(Rule::is_wildcard) {
        Some(i) => (&rules[i + 1..], rules[i].allow),
        None => (rules, false),
    }
}

/// What the program decides, computed directly: the reference the program
/// is tested against.
#[cfg(test)]
pub(super) fn decide(rules: &[Rule], typ: u32, major: u32, minor: u32, access: u32) -> bool {
    let (rules, default) = effective(rules);
    let mut left = access;
    for r in rules.iter().rev() {
        let hit = !matches!(r.typ, Some(t) if t != typ)
            && !matches!(r.major, Some(m) if m != major)
            && !matches!(r.minor, Some(m) if m != minor);
        if !hit || r.access & left == 0 {
            continue;
        }
        if !r.allow {
            return false;
        }
        left &= !r.access;
        if left == 0 {
            return true;
        }
    }
    default
}

/// Assembles the filter for `rules` (in the order they were given).
pub(super) fn program(rules: &[Rule]) -> Vec<Insn> {
    let (rules, default) = effective(rules);
    let mut p = vec![
        ldx_w(R2, R1, 0),      // r2 = ctx->access_type
        mov32_reg(R3, R2),     // r3 = r2
        and32_imm(R3, 0xffff), // r3 = device type
        rsh32_imm(R2, 16),     // r2 = requested access bits (the undecided ones)
        ldx_w(R4, R1, 4),      // r4 = major
        ldx_w(R5, R1, 8),      // r5 = minor
    ];
    for r in rules.iter().rev() {
        // Each block falls through to the next one when the rule does not
        // decide; NEXT marks the jumps to patch with the block's end.
        const NEXT: i16 = i16::MIN;
        let mut b = Vec::new();
        if let Some(t) = r.typ {
            b.push(jne32_imm(R3, t, NEXT));
        }
        if let Some(m) = r.major {
            b.push(jne32_imm(R4, m, NEXT));
        }
        if let Some(m) = r.minor {
            b.push(jne32_imm(R5, m, NEXT));
        }
        if r.allow {
            if r.access != ACC_ALL {
                b.push(and32_imm(R2, (ACC_ALL & !r.access) as i32)); // these bits are decided
                b.push(jne32_imm(R2, 0, NEXT)); // some are still undecided
            }
            b.push(mov64_imm(R0, 1));
            b.push(exit());
        } else {
            if r.access != ACC_ALL {
                b.push(mov32_reg(R1, R2));
                b.push(and32_imm(R1, r.access as i32));
                b.push(jeq32_imm(R1, 0, NEXT)); // no undecided bit is denied here
            }
            b.push(mov64_imm(R0, 0));
            b.push(exit());
        }
        let len = b.len();
        for (i, insn) in b.iter_mut().enumerate() {
            if insn.off == NEXT {
                insn.off = (len - i - 1) as i16;
            }
        }
        p.extend(b);
    }
    p.push(mov64_imm(R0, i32::from(default)));
    p.push(exit());
    p
}

// ---------------------------------------------------------------------------
// Loading, attaching, replacing.
// ---------------------------------------------------------------------------

/// Loads the program for `rules`; a refusal carries the verifier's log.
fn load(insns: &[Insn]) -> Result<OwnedFd, String> {
    let code: Vec<[u8; 8]> = insns.iter().map(Insn::encode).collect();
    let license: &CStr = c"Apache-2.0";
    match sys::bpf_prog_load(
        PROG_TYPE_CGROUP_DEVICE,
        ATTACH_CGROUP_DEVICE,
        &code,
        license,
        PROG_NAME,
        &mut [],
    ) {
        Ok(fd) => Ok(fd),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::EACCES)) => {
            // Load again with the verifier's log, to say why.
            let mut log = vec![0u8; 1 << 16];
            let again = sys::bpf_prog_load(
                PROG_TYPE_CGROUP_DEVICE,
                ATTACH_CGROUP_DEVICE,
                &code,
                license,
                PROG_NAME,
                &mut log,
            );
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            match again {
                Ok(fd) => Ok(fd),
                Err(_) => Err(format!(
                    "the kernel refused the device filter ({} instructions): {e}; verifier: {}",
                    insns.len(),
                    tail.into_iter().rev().collect::<Vec<_>>().join(" / ")
                )),
            }
        }
        Err(e) => Err(format!("loading the eBPF device filter: {e}")),
    }
}

/// berth's programs attached to the cgroup itself.
fn ours(cgroup: &OwnedFd) -> Result<Vec<OwnedFd>, String> {
    let ids = sys::bpf_prog_query(cgroup.as_fd(), ATTACH_CGROUP_DEVICE)
        .map_err(|e| format!("querying the cgroup's device programs: {e}"))?;
    let mut out = Vec::new();
    for id in ids {
        // A program detached meanwhile is simply gone.
        let Ok(fd) = sys::bpf_prog_get_fd_by_id(id) else {
            continue;
        };
        if sys::bpf_prog_name(fd.as_fd()).is_ok_and(|n| n == PROG_NAME) {
            out.push(fd);
        }
    }
    Ok(out)
}

/// Loads the filter for `rules` and puts it on the cgroup at `dir`,
/// atomically replacing the one berth attached before (BPF_F_REPLACE), so
/// there is never a moment without a filter or with both.
pub(super) fn install(dir: &Path, rules: &[Rule]) -> Result<(), String> {
    let prog = load(&program(rules))?;
    let cgroup = std::fs::File::open(dir)
        .map(OwnedFd::from)
        .map_err(|e| format!("opening {}: {e}", dir.display()))?;
    let old = ours(&cgroup)?;
    let attach = |replace: Option<&OwnedFd>| {
        let flags = F_ALLOW_MULTI | if replace.is_some() { F_REPLACE } else { 0 };
        sys::bpf_prog_attach(
            cgroup.as_fd(),
            prog.as_fd(),
            ATTACH_CGROUP_DEVICE,
            flags,
            replace.map(AsFd::as_fd),
        )
        .map_err(|e| format!("attaching the device filter to {}: {e}", dir.display()))
    };
    match old.split_first() {
        Some((first, rest)) => {
            attach(Some(first))?;
            // More than one of ours (should not happen): the new one is in
            // place, the others go.
            for o in rest {
                let _ = sys::bpf_prog_detach(cgroup.as_fd(), o.as_fd(), ATTACH_CGROUP_DEVICE);
            }
        }
        None => attach(None)?,
    }
    Ok(())
}

/// Applies `rules` (already the config's plus the default list) to the
/// cgroup at `dir`; errors name the field.
pub(super) fn apply(
    dir: &Path,
    spec: &[LinuxDeviceCgroup],
    n_config: usize,
) -> Result<(), CgroupError> {
    let mut rules = Vec::with_capacity(spec.len());
    for (i, r) in spec.iter().enumerate() {
        let rule = rule_from_spec(r).map_err(|message| CgroupError::Resource {
            field: if i < n_config {
                format!("linux.resources.devices[{i}]")
            } else {
                "default device rules".into()
            },
            message,
        })?;
        rules.push(rule);
    }
    install(dir, &rules).map_err(|message| CgroupError::Resource {
        field: "linux.resources.devices".into(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_encode_like_the_kernel_expects() {
        // r2 = *(u32 *)(r1 + 0): code 0x61, dst 2 in the low nibble, src 1 high.
        assert_eq!(ldx_w(R2, R1, 0).encode(), [0x61, 0x12, 0, 0, 0, 0, 0, 0]);
        assert_eq!(ldx_w(R4, R1, 4).encode(), [0x61, 0x14, 4, 0, 0, 0, 0, 0]);
        // w3 = w2
        assert_eq!(mov32_reg(R3, R2).encode(), [0xbc, 0x23, 0, 0, 0, 0, 0, 0]);
        // w3 &= 0xffff
        assert_eq!(
            and32_imm(R3, 0xffff).encode(),
            [0x54, 0x03, 0, 0, 0xff, 0xff, 0, 0]
        );
        // w2 >>= 16
        assert_eq!(rsh32_imm(R2, 16).encode(), [0x74, 0x02, 0, 0, 16, 0, 0, 0]);
        // if w4 != 136 goto +3
        assert_eq!(
            jne32_imm(R4, 136, 3).encode(),
            [0x56, 0x04, 3, 0, 136, 0, 0, 0]
        );
        // if w1 == 0 goto +2
        assert_eq!(jeq32_imm(R1, 0, 2).encode(), [0x16, 0x01, 2, 0, 0, 0, 0, 0]);
        // a u32 above i32::MAX keeps its bits
        assert_eq!(
            jne32_imm(R5, 0xffff_fffe, 1).encode(),
            [0x56, 0x05, 1, 0, 0xfe, 0xff, 0xff, 0xff]
        );
        // r0 = 1; exit
        assert_eq!(mov64_imm(R0, 1).encode(), [0xb7, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(exit().encode(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
    }

    fn spec(v: serde_json::Value) -> Vec<Rule> {
        let list: Vec<LinuxDeviceCgroup> = serde_json::from_value(v).unwrap();
        list.iter().map(|r| rule_from_spec(r).unwrap()).collect()
    }

    #[test]
    fn spec_rules_convert() {
        let r = spec(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
            {"allow": true, "type": "b", "major": 8, "minor": -1, "access": "m"},
            {"allow": true, "type": "u", "major": 4}
        ]));
        assert!(r[0].is_wildcard() && !r[0].allow);
        assert_eq!(
            r[1],
            Rule {
                allow: true,
                typ: Some(DEV_CHAR),
                major: Some(1),
                minor: Some(3),
                access: ACC_READ | ACC_WRITE
            }
        );
        assert_eq!(r[2].typ, Some(DEV_BLOCK));
        assert_eq!(r[2].minor, None);
        assert_eq!(r[2].access, ACC_MKNOD);
        assert_eq!(r[3].typ, Some(DEV_CHAR));
        assert_eq!(r[3].access, ACC_ALL);
        let bad: LinuxDeviceCgroup =
            serde_json::from_value(serde_json::json!({"allow": true, "major": 4294967296i64}))
                .unwrap();
        assert!(rule_from_spec(&bad)
            .unwrap_err()
            .starts_with("major 4294967296"));
        let bad: LinuxDeviceCgroup =
            serde_json::from_value(serde_json::json!({"allow": true, "access": ""})).unwrap();
        assert!(rule_from_spec(&bad).unwrap_err().starts_with("access \"\""));
    }

    #[test]
    fn the_program_has_the_expected_shape() {
        let rules = spec(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
        ]));
        let p = program(&rules);
        let want = vec![
            ldx_w(R2, R1, 0),
            mov32_reg(R3, R2),
            and32_imm(R3, 0xffff),
            rsh32_imm(R2, 16),
            ldx_w(R4, R1, 4),
            ldx_w(R5, R1, 8),
            // c 1:3 rwm allow
            jne32_imm(R3, DEV_CHAR, 4),
            jne32_imm(R4, 1, 3),
            jne32_imm(R5, 3, 2),
            mov64_imm(R0, 1),
            exit(),
            // default deny (the wildcard)
            mov64_imm(R0, 0),
            exit(),
        ];
        assert_eq!(p, want);
    }

    /// Runs the program on one context, interpreting the instructions the
    /// assembler emits (and nothing else).
    fn run(p: &[Insn], access_type: u32, major: u32, minor: u32) -> u64 {
        let mut r = [0u64; 11];
        let ctx = [access_type, major, minor];
        let mut pc = 0usize;
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 100_000, "no exit");
            let i = p[pc];
            let (d, s) = (i.dst.0 as usize, i.src.0 as usize);
            pc += 1;
            match i.code {
                0x61 => {
                    assert_eq!(s, 1, "loads come from the context");
                    r[d] = u64::from(ctx[i.off as usize / 4]);
                }
                0xbc => r[d] = r[s] & 0xffff_ffff,
                0xb7 => r[d] = i.imm as i64 as u64,
                0x54 => r[d] = (r[d] as u32 & i.imm as u32) as u64,
                0x74 => r[d] = ((r[d] as u32) >> i.imm) as u64,
                0x56 | 0x16 => {
                    let eq = r[d] as u32 == i.imm as u32;
                    if eq == (i.code == 0x16) {
                        assert!(i.off >= 0, "only forward jumps");
                        pc += i.off as usize;
                    }
                }
                0x95 => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn the_program_decides_like_the_reference() {
        let lists = [
            // runc's usual: deny all, the default list, then a config rule.
            serde_json::json!([
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": true, "type": "c", "major": 136, "access": "rwm"},
                {"allow": true, "type": "c", "access": "m"},
                {"allow": true, "type": "b", "major": 7, "minor": 0, "access": "r"},
                {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"}
            ]),
            // allow all, then deny a few.
            serde_json::json!([
                {"allow": true, "access": "rwm"},
                {"allow": false, "type": "b", "access": "w"},
                {"allow": false, "major": 1, "minor": 5}
            ]),
            // access bits granted by two rules, and a wildcard in the middle.
            serde_json::json!([
                {"allow": true, "type": "c", "major": 9, "minor": 9, "access": "rwm"},
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "r"},
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "w"},
                {"allow": true, "type": "a", "major": 4, "access": "rw"}
            ]),
            // no wildcard at all: default deny
            serde_json::json!([
                {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}
            ]),
            serde_json::json!([]),
        ];
        for list in lists {
            let rules = spec(list.clone());
            let p = program(&rules);
            for typ in [DEV_BLOCK, DEV_CHAR] {
                for major in [0, 1, 4, 7, 9, 136, 0xffff_fffe] {
                    for minor in [0, 3, 5, 9] {
                        for access in 1..=ACC_ALL {
                            let want = decide(&rules, typ, major, minor, access);
                            let got = run(&p, (access << 16) | typ, major, minor);
                            assert_eq!(
                                got,
                                u64::from(want),
                                "{list}: type {typ} {major}:{minor} access {access}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_reference_follows_v1_semantics() {
        let rules = spec(serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"},
            {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "r"},
            {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "w"}
        ]));
        let rw = ACC_READ | ACC_WRITE;
        assert!(decide(&rules, DEV_CHAR, 1, 3, ACC_READ));
        assert!(!decide(&rules, DEV_CHAR, 1, 3, rw));
        assert!(!decide(&rules, DEV_CHAR, 1, 3, ACC_WRITE));
        assert!(decide(&rules, DEV_CHAR, 5, 0, rw));
        assert!(!decide(&rules, DEV_CHAR, 5, 0, ACC_MKNOD));
        assert!(!decide(&rules, DEV_BLOCK, 1, 3, ACC_READ));
        assert!(!decide(&rules, DEV_CHAR, 1, 5, ACC_READ));
    }
}
