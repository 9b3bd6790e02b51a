//! The few rtnetlink requests linux.netDevices needs (netdev.rs): find a
//! device, list device names, read a device's permanent addresses, move and
//! rename a device into another network namespace, set it up or down, add
//! an address. Hand-built messages: a general rtnetlink crate brought some
//! 300 KB of parsing code into a binary whose size is its start-up cost.

use crate::sys;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_DUMP: u16 = 0x300;

const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFF_UP: u32 = 0x1;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_ANYCAST: u16 = 5;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u8 = 0x80;

const HEADER_LEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const IFADDRMSG_LEN: usize = 8;

/// A network device as the kernel reports it.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    pub index: u32,
    pub up: bool,
}

/// An address of a device: the ifaddrmsg fields and the attributes that
/// make it up again on another device.
#[derive(Debug, Clone)]
pub struct Address {
    family: u8,
    pub prefix_len: u8,
    flags: u8,
    scope: u8,
    /// (type, payload) of IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST,
    /// IFA_ANYCAST and IFA_FLAGS; the label and cache info are the kernel's.
    attrs: Vec<(u16, Vec<u8>)>,
}

impl Address {
    /// "10.1.2.3/24" (or the IPv6 form), for error messages.
    pub fn describe(&self) -> String {
        let ip = [IFA_LOCAL, IFA_ADDRESS]
            .iter()
            .find_map(|t| self.attrs.iter().find(|(a, _)| a == t))
            .and_then(|(_, data)| match data.len() {
                4 => Some(std::net::IpAddr::from(<[u8; 4]>::try_from(&data[..]).ok()?)),
                16 => Some(std::net::IpAddr::from(
                    <[u8; 16]>::try_from(&data[..]).ok()?,
                )),
                _ => None,
            });
        match ip {
            Some(ip) => format!("{ip}/{}", self.prefix_len),
            None => "an address".into(),
        }
    }
}

/// A NETLINK_ROUTE socket bound to one network namespace.
pub struct Rtnl {
    sock: File,
    seq: u32,
}

/// A request under construction: header, fixed part, attributes.
struct Request(Vec<u8>);

impl Request {
    fn new(kind: u16, flags: u16, fixed: &[u8]) -> Request {
        let mut buf = vec![0u8; HEADER_LEN];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
        buf.extend_from_slice(fixed);
        Request(buf)
    }

    fn attr(mut self, kind: u16, data: &[u8]) -> Request {
        let len = 4 + data.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(align4(self.0.len()), 0);
        self
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[0..4].copy_from_slice(&len.to_ne_bytes());
        self.0[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.0
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn ifinfomsg(index: u32, flags: u32, change: u32) -> [u8; IFINFOMSG_LEN] {
    let mut m = [0u8; IFINFOMSG_LEN];
    m[4..8].copy_from_slice(&index.to_ne_bytes());
    m[8..12].copy_from_slice(&flags.to_ne_bytes());
    m[12..16].copy_from_slice(&change.to_ne_bytes());
    m
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("rtnetlink: {what}"))
}

/// The attributes of a message body, from `start`.
fn attributes(body: &[u8], start: usize) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = start;
    while let (Some(len), Some(kind)) = (u16_at(body, at), u16_at(body, at + 2)) {
        let len = len as usize;
        if len < 4 || at + len > body.len() {
            break;
        }
        // The top bits flag nested and byte-order attributes.
        out.push((kind & 0x3fff, &body[at + 4..at + len]));
        at += align4(len);
    }
    out
}

impl Rtnl {
    /// A socket in the caller's network namespace.
    pub fn here() -> io::Result<Rtnl> {
        Ok(Rtnl {
            sock: File::from(sys::route_netlink_socket()?),
            seq: 0,
        })
    }

    /// A socket in the network namespace `ns`: the calling thread enters it
    /// just to create the socket (which stays bound to it) and goes back.
    pub fn in_netns(ns: BorrowedFd<'_>) -> io::Result<Rtnl> {
        let own: OwnedFd = sys::open(c"/proc/thread-self/ns/net", libc::O_RDONLY, 0)?;
        sys::setns(ns, libc::CLONE_NEWNET)?;
        let made = Rtnl::here();
        let back = sys::setns(own.as_fd(), libc::CLONE_NEWNET);
        let rtnl = made?;
        back?;
        Ok(rtnl)
    }

    /// Sends `req` and returns the bodies (after the netlink header) of the
    /// answer's messages of type `want`: a dump's parts, one reply, or
    /// nothing for an acknowledged change.
    fn request(&mut self, req: Request, want: u16) -> io::Result<Vec<Vec<u8>>> {
        self.seq += 1;
        let flags = u16_at(&req.0, 6).unwrap_or(0);
        self.sock.write_all(&req.finish(self.seq))?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = self.sock.read(&mut buf)?;
            let mut at = 0;
            while at + HEADER_LEN <= n {
                let len = u32_at(&buf, at).ok_or_else(|| bad("short header"))? as usize;
                let kind = u16_at(&buf, at + 4).ok_or_else(|| bad("short header"))?;
                let seq = u32_at(&buf, at + 8).ok_or_else(|| bad("short header"))?;
                if len < HEADER_LEN || at + len > n {
                    return Err(bad("truncated message"));
                }
                let body = &buf[at + HEADER_LEN..at + len];
                at += align4(len);
                if seq != self.seq {
                    continue;
                }
                match kind {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code = u32_at(body, 0).ok_or_else(|| bad("short error"))? as i32;
                        return if code == 0 {
                            Ok(out)
                        } else {
                            Err(io::Error::from_raw_os_error(-code))
                        };
                    }
                    k if k == want => {
                        out.push(body.to_vec());
                        if flags & (NLM_F_DUMP | NLM_F_ACK) == 0 {
                            return Ok(out);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The device named `name`, if there is one.
    pub fn link(&mut self, name: &str) -> io::Result<Option<Link>> {
        let req = Request::new(RTM_GETLINK, 0, &ifinfomsg(0, 0, 0))
            .attr(IFLA_IFNAME, &nul_terminated(name));
        match self.request(req, RTM_NEWLINK) {
            Ok(bodies) => Ok(bodies.first().and_then(|b| {
                Some(Link {
                    index: u32_at(b, 4)?,
                    up: u32_at(b, 8)? & IFF_UP != 0,
                })
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The names of all devices.
    pub fn link_names(&mut self) -> io::Result<Vec<String>> {
        let req = Request::new(RTM_GETLINK, NLM_F_DUMP, &ifinfomsg(0, 0, 0));
        Ok(self
            .request(req, RTM_NEWLINK)?
            .iter()
            .filter_map(|b| {
                attributes(b, IFINFOMSG_LEN)
                    .into_iter()
                    .find(|(t, _)| *t == IFLA_IFNAME)
                    .map(|(_, name)| {
                        let name = name.split(|&c| c == 0).next().unwrap_or_default();
                        String::from_utf8_lossy(name).into_owned()
                    })
            })
            .collect())
    }

    /// The permanent (configured, not autoconfigured) addresses of device
    /// `index`.
    pub fn addresses(&mut self, index: u32) -> io::Result<Vec<Address>> {
        let req = Request::new(RTM_GETADDR, NLM_F_DUMP, &[0u8; IFADDRMSG_LEN]);
        Ok(self
            .request(req, RTM_NEWADDR)?
            .iter()
            .filter(|b| {
                u32_at(b, 4) == Some(index) && b.get(2).is_some_and(|f| f & IFA_F_PERMANENT != 0)
            })
            .filter_map(|b| {
                let attrs = attributes(b, IFADDRMSG_LEN)
                    .into_iter()
                    .filter(|(t, _)| {
                        matches!(
                            *t,
                            IFA_ADDRESS | IFA_LOCAL | IFA_BROADCAST | IFA_ANYCAST | IFA_FLAGS
                        )
                    })
                    .map(|(t, d)| (t, d.to_vec()))
                    .collect();
                Some(Address {
                    family: *b.first()?,
                    prefix_len: *b.get(1)?,
                    flags: *b.get(2)?,
                    scope: *b.get(3)?,
                    attrs,
                })
            })
            .collect())
    }

    /// Moves device `index` to the namespace `ns` under `name`.
    pub fn move_link(&mut self, index: u32, ns: BorrowedFd<'_>, name: &str) -> io::Result<()> {
        let req = Request::new(RTM_SETLINK, NLM_F_ACK, &ifinfomsg(index, 0, 0))
            .attr(IFLA_NET_NS_FD, &ns.as_raw_fd().to_ne_bytes())
            .attr(IFLA_IFNAME, &nul_terminated(name));
        self.request(req, RTM_NEWLINK).map(drop)
    }

    /// Sets device `index` up or down.
    pub fn set_up(&mut self, index: u32, up: bool) -> io::Result<()> {
        let flags = if up { IFF_UP } else { 0 };
        let req = Request::new(RTM_SETLINK, NLM_F_ACK, &ifinfomsg(index, flags, IFF_UP));
        self.request(req, RTM_NEWLINK).map(drop)
    }

    /// Adds `addr` (read from another device) to device `index`.
    pub fn add_address(&mut self, index: u32, addr: &Address) -> io::Result<()> {
        let mut fixed = [0u8; IFADDRMSG_LEN];
        fixed[0] = addr.family;
        fixed[1] = addr.prefix_len;
        fixed[2] = addr.flags;
        fixed[3] = addr.scope;
        fixed[4..8].copy_from_slice(&index.to_ne_bytes());
        let req = addr.attrs.iter().fold(
            Request::new(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &fixed),
            |req, (t, data)| req.attr(*t, data),
        );
        self.request(req, RTM_NEWADDR).map(drop)
    }
}

fn nul_terminated(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_laid_out_as_the_kernel_reads_them() {
        let msg = Request::new(RTM_SETLINK, NLM_F_ACK, &ifinfomsg(7, IFF_UP, IFF_UP))
            .attr(IFLA_IFNAME, &nul_terminated("eth0"))
            .finish(9);
        // header 16 + ifinfomsg 16 + attribute 4 + "eth0\0" padded to 8
        assert_eq!(msg.len(), 16 + 16 + 12);
        assert_eq!(u32_at(&msg, 0), Some(44));
        assert_eq!(u16_at(&msg, 4), Some(RTM_SETLINK));
        assert_eq!(u16_at(&msg, 6), Some(NLM_F_REQUEST | NLM_F_ACK));
        assert_eq!(u32_at(&msg, 8), Some(9));
        assert_eq!(u32_at(&msg, 16 + 4), Some(7));
        assert_eq!(u16_at(&msg, 32), Some(9));
        assert_eq!(u16_at(&msg, 34), Some(IFLA_IFNAME));
        assert_eq!(&msg[36..41], b"eth0\0");
        assert_eq!(&msg[41..44], &[0, 0, 0]);
    }

    #[test]
    fn attributes_are_walked_with_padding() {
        let body = Request::new(0, 0, &[0u8; IFADDRMSG_LEN])
            .attr(IFA_LOCAL, &[10, 0, 0, 1])
            .attr(3, b"x\0")
            .attr(IFA_FLAGS, &0x80u32.to_ne_bytes())
            .finish(1);
        let attrs = attributes(&body[HEADER_LEN..], IFADDRMSG_LEN);
        let kinds: Vec<u16> = attrs.iter().map(|(t, _)| *t).collect();
        assert_eq!(kinds, [IFA_LOCAL, 3, IFA_FLAGS]);
        assert_eq!(attrs[0].1, &[10, 0, 0, 1]);
    }

    #[test]
    fn addresses_describe_themselves() {
        let a = Address {
            family: libc::AF_INET as u8,
            prefix_len: 24,
            flags: IFA_F_PERMANENT,
            scope: 0,
            attrs: vec![(IFA_LOCAL, vec![192, 168, 7, 2])],
        };
        assert_eq!(a.describe(), "192.168.7.2/24");
    }
}
