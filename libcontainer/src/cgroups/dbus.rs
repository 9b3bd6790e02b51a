//! A small synchronous D-Bus client, just what the systemd driver needs:
//! connect to a unix socket, SASL EXTERNAL, method calls with basic
//! arguments and the variants of systemd's unit properties, and the reply
//! (or error) to each call. Written from the D-Bus specification; berth
//! runs for milliseconds, so an async stack (and its size in every berth
//! binary) would buy nothing here.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

/// The D-Bus default method call timeout.
const TIMEOUT: Duration = Duration::from_secs(25);
/// The specification's maximum message size (128 MiB).
const MAX_MESSAGE: usize = 1 << 27;

const METHOD_CALL: u8 = 1;
const METHOD_RETURN: u8 = 2;
const ERROR: u8 = 3;

// Header field codes.
const FIELD_PATH: u8 = 1;
const FIELD_INTERFACE: u8 = 2;
const FIELD_MEMBER: u8 = 3;
const FIELD_ERROR_NAME: u8 = 4;
const FIELD_REPLY_SERIAL: u8 = 5;
const FIELD_DESTINATION: u8 = 6;
const FIELD_SIGNATURE: u8 = 8;

/// A failed D-Bus exchange.
#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    /// The socket could not be connected.
    #[error("connect to {path}: {source}")]
    Connect {
        /// The socket path.
        path: String,
        /// The reason.
        source: std::io::Error,
    },
    /// The peer refused the EXTERNAL authentication.
    #[error("{path}: authentication refused ({reply:?})")]
    Auth {
        /// The socket path.
        path: String,
        /// What the peer answered.
        reply: String,
    },
    /// Reading or writing the socket failed (or timed out).
    #[error("D-Bus I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent something this client cannot read.
    #[error("D-Bus protocol: {0}")]
    Protocol(String),
    /// The call was answered with an ERROR message.
    #[error("{name}: {message}")]
    Method {
        /// The error name (e.g. org.freedesktop.systemd1.NoSuchUnit).
        name: String,
        /// The error's message argument, if it had one.
        message: String,
    },
}

fn protocol(what: impl Into<String>) -> DbusError {
    DbusError::Protocol(what.into())
}

/// A variant value of the types systemd's unit properties use here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `s`
    Str(String),
    /// `b`
    Bool(bool),
    /// `t`
    U64(u64),
    /// `au`
    U32Array(Vec<u32>),
    /// `a(ss)`
    StrPairs(Vec<(String, String)>),
}

impl Value {
    fn signature(&self) -> &'static str {
        match self {
            Value::Str(_) => "s",
            Value::Bool(_) => "b",
            Value::U64(_) => "t",
            Value::U32Array(_) => "au",
            Value::StrPairs(_) => "a(ss)",
        }
    }
}

/// A unit property (`(sv)`).
pub type Property = (&'static str, Value);

/// Marshals values into a little-endian D-Bus byte stream. Alignment is
/// relative to the start of the buffer, so a body must be written into a
/// writer of its own (the body starts 8-aligned in the message).
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    fn pad(&mut self, align: usize) {
        self.buf.resize(self.buf.len().next_multiple_of(align), 0);
    }

    /// `y`
    pub fn byte(&mut self, v: u8) {
        self.buf.push(v);
    }

    /// `u`
    pub fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// `t`
    pub fn u64(&mut self, v: u64) {
        self.pad(8);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// `b`: a 32-bit 0 or 1.
    pub fn bool(&mut self, v: bool) {
        self.u32(u32::from(v));
    }

    /// `s` (and `o`, which has the same layout).
    pub fn string(&mut self, v: &str) {
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v.as_bytes());
        self.buf.push(0);
    }

    /// `g`: a one-byte length.
    pub fn signature(&mut self, v: &str) {
        self.buf.push(v.len() as u8);
        self.buf.extend_from_slice(v.as_bytes());
        self.buf.push(0);
    }

    /// An array whose elements have alignment `align`: the length counts
    /// the element bytes only, not the padding before the first element
    /// (which is there even when the array is empty).
    pub fn array(&mut self, align: usize, elements: impl FnOnce(&mut Self)) {
        self.pad(4);
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        self.pad(align);
        let start = self.buf.len();
        elements(self);
        let len = (self.buf.len() - start) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
    }

    /// The start of a struct or dict entry (8-aligned).
    pub fn begin_struct(&mut self) {
        self.pad(8);
    }

    /// `v`
    pub fn variant(&mut self, v: &Value) {
        self.signature(v.signature());
        match v {
            Value::Str(s) => self.string(s),
            Value::Bool(b) => self.bool(*b),
            Value::U64(n) => self.u64(*n),
            Value::U32Array(a) => self.array(4, |w| a.iter().for_each(|n| w.u32(*n))),
            Value::StrPairs(pairs) => self.array(8, |w| {
                for (a, b) in pairs {
                    w.begin_struct();
                    w.string(a);
                    w.string(b);
                }
            }),
        }
    }

    /// `a(sv)`
    pub fn properties(&mut self, props: &[Property]) {
        self.array(8, |w| {
            for (name, value) in props {
                w.begin_struct();
                w.string(name);
                w.variant(value);
            }
        });
    }
}

/// A method call.
#[derive(Debug)]
pub struct Call<'a> {
    /// The destination bus name (none on a peer-to-peer connection).
    pub destination: Option<&'a str>,
    /// The object path.
    pub path: &'a str,
    /// The interface.
    pub interface: &'a str,
    /// The method.
    pub member: &'a str,
    /// The body's signature ("" for no arguments).
    pub signature: &'a str,
    /// The marshalled arguments ([`Writer`]).
    pub body: Vec<u8>,
}

impl Call<'static> {
    /// The bus's Hello, which every connection to a message bus sends first.
    fn hello() -> Self {
        Call {
            destination: Some("org.freedesktop.DBus"),
            path: "/org/freedesktop/DBus",
            interface: "org.freedesktop.DBus",
            member: "Hello",
            signature: "",
            body: Vec::new(),
        }
    }
}

/// One header field: code, then the variant (signature, value).
fn header_field(w: &mut Writer, code: u8, sig: &str, value: &str) {
    w.begin_struct();
    w.byte(code);
    w.signature(sig);
    if sig == "g" {
        w.signature(value);
    } else {
        w.string(value);
    }
}

/// The bytes of a METHOD_CALL message with `serial`.
pub fn method_call(call: &Call<'_>, serial: u32) -> Vec<u8> {
    let mut w = Writer::new();
    w.byte(b'l');
    w.byte(METHOD_CALL);
    w.byte(0);
    w.byte(1);
    w.u32(call.body.len() as u32);
    w.u32(serial);
    w.array(8, |w| {
        header_field(w, FIELD_PATH, "o", call.path);
        header_field(w, FIELD_INTERFACE, "s", call.interface);
        header_field(w, FIELD_MEMBER, "s", call.member);
        if let Some(dest) = call.destination {
            header_field(w, FIELD_DESTINATION, "s", dest);
        }
        if !call.signature.is_empty() {
            header_field(w, FIELD_SIGNATURE, "g", call.signature);
        }
    });
    w.pad(8);
    w.buf.extend_from_slice(&call.body);
    w.buf
}

/// Reads values from a whole message (alignment is from its start).
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    big_endian: bool,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DbusError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| protocol("message truncated"))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn align(&mut self, align: usize) -> Result<(), DbusError> {
        self.take(self.pos.next_multiple_of(align) - self.pos)
            .map(drop)
    }

    fn byte(&mut self) -> Result<u8, DbusError> {
        Ok(self.take(1)?[0])
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], DbusError> {
        self.align(N)?;
        let mut b = [0; N];
        b.copy_from_slice(self.take(N)?);
        if self.big_endian {
            b.reverse();
        }
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, DbusError> {
        self.fixed::<4>().map(u32::from_le_bytes)
    }

    fn text(&mut self, len: usize) -> Result<String, DbusError> {
        let bytes = self.take(len)?;
        if self.take(1)? != [0] {
            return Err(protocol("string without its nul terminator"));
        }
        String::from_utf8(bytes.to_vec()).map_err(|_| protocol("string is not UTF-8"))
    }

    /// `s` or `o`
    fn string(&mut self) -> Result<String, DbusError> {
        let len = self.u32()? as usize;
        self.text(len)
    }

    /// `g`
    fn signature(&mut self) -> Result<String, DbusError> {
        let len = self.byte()? as usize;
        self.text(len)
    }

    /// Skips one value of a basic type (header fields we do not use).
    fn skip_basic(&mut self, sig: &str) -> Result<(), DbusError> {
        match sig {
            "y" => self.take(1).map(drop),
            "n" | "q" => self.fixed::<2>().map(drop),
            "b" | "i" | "u" | "h" => self.fixed::<4>().map(drop),
            "x" | "t" | "d" => self.fixed::<8>().map(drop),
            "s" | "o" => self.string().map(drop),
            "g" => self.signature().map(drop),
            other => Err(protocol(format!(
                "header field of type {other:?} is not supported"
            ))),
        }
    }
}

/// A received message, with the header fields this client looks at.
#[derive(Debug)]
pub struct Message {
    /// METHOD_RETURN, ERROR, SIGNAL …
    pub kind: u8,
    /// REPLY_SERIAL, if present.
    pub reply_serial: Option<u32>,
    /// ERROR_NAME, if present.
    pub error_name: Option<String>,
    /// The body's signature.
    pub signature: String,
    big_endian: bool,
    /// The whole message; the body starts at `body_start`.
    bytes: Vec<u8>,
    body_start: usize,
}

impl Message {
    /// The body's first argument, when it is a string or object path
    /// (an error's message, the job path StartTransientUnit returns).
    pub fn first_string(&self) -> Option<String> {
        if !self.signature.starts_with(['s', 'o']) {
            return None;
        }
        let mut r = Reader {
            buf: &self.bytes,
            pos: self.body_start,
            big_endian: self.big_endian,
        };
        r.string().ok()
    }
}

/// The length of a message from its fixed 16-byte start.
fn message_len(fixed: &[u8; 16]) -> Result<usize, DbusError> {
    let big_endian = match fixed[0] {
        b'l' => false,
        b'B' => true,
        other => return Err(protocol(format!("unknown endianness mark {other:#x}"))),
    };
    let word = |at: usize| {
        let mut b = [0; 4];
        b.copy_from_slice(&fixed[at..at + 4]);
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let fields = word(12) as usize;
    let body = word(4) as usize;
    let total = (16 + fields.min(MAX_MESSAGE))
        .next_multiple_of(8)
        .saturating_add(body);
    if fields > MAX_MESSAGE || total > MAX_MESSAGE {
        return Err(protocol(format!("message of {total} bytes is too long")));
    }
    Ok(total)
}

/// Parses a whole message (its length checked by [`message_len`]).
pub fn parse_message(bytes: Vec<u8>) -> Result<Message, DbusError> {
    if bytes.len() < 16 {
        return Err(protocol("message truncated"));
    }
    let big_endian = bytes[0] == b'B';
    let kind = bytes[1];
    let mut r = Reader {
        buf: &bytes,
        pos: 12,
        big_endian,
    };
    let fields_len = r.u32()? as usize;
    let fields_end = fields_len.saturating_add(16);
    let (mut reply_serial, mut error_name, mut signature) = (None, None, String::new());
    while r.pos < fields_end {
        r.align(8)?;
        let code = r.byte()?;
        let sig = r.signature()?;
        match (code, sig.as_str()) {
            (FIELD_REPLY_SERIAL, "u") => reply_serial = Some(r.u32()?),
            (FIELD_ERROR_NAME, "s") => error_name = Some(r.string()?),
            (FIELD_SIGNATURE, "g") => signature = r.signature()?,
            (_, other) => r.skip_basic(other)?,
        }
    }
    if r.pos != fields_end {
        return Err(protocol("header fields overrun their array"));
    }
    r.align(8)?;
    let body_start = r.pos;
    Ok(Message {
        kind,
        reply_serial,
        error_name,
        signature,
        big_endian,
        bytes,
        body_start,
    })
}

/// A connection that has passed authentication.
#[derive(Debug)]
pub struct Connection {
    stream: UnixStream,
    /// Bytes read past the authentication reply.
    pending: Vec<u8>,
    serial: u32,
}

impl Connection {
    /// Connects to the socket at `path` and authenticates as our
    /// effective uid (SASL EXTERNAL: the peer checks it against the
    /// socket's credentials). With `hello` (a bus daemon rather than a
    /// peer such as systemd's private socket) it also registers on the
    /// bus, which a bus requires before any other call.
    pub fn open(path: &str, hello: bool) -> Result<Self, DbusError> {
        let stream = UnixStream::connect(path).map_err(|source| DbusError::Connect {
            path: path.to_string(),
            source,
        })?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        let mut conn = Self {
            stream,
            pending: Vec::new(),
            serial: 0,
        };
        conn.authenticate(path)?;
        if hello {
            let reply = conn.call(&Call::hello())?;
            tracing::debug!(name = ?reply.first_string(), "registered on the bus");
        }
        Ok(conn)
    }

    fn authenticate(&mut self, path: &str) -> Result<(), DbusError> {
        let (uid, _) = crate::sys::effective_ids();
        let hex: String = uid
            .to_string()
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        // The leading nul byte is where a peer may take credentials from;
        // BEGIN may follow AUTH without waiting for OK.
        let hello = format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n");
        self.stream.write_all(hello.as_bytes())?;
        let line = self.read_line()?;
        if line.starts_with("OK ") {
            Ok(())
        } else {
            Err(DbusError::Auth {
                path: path.to_string(),
                reply: line,
            })
        }
    }

    /// One authentication reply line, without its CRLF.
    fn read_line(&mut self) -> Result<String, DbusError> {
        let mut chunk = [0u8; 256];
        loop {
            if let Some(end) = self.pending.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.pending[..end]).into_owned();
                self.pending.drain(..end + 2);
                return Ok(line);
            }
            if self.pending.len() > 16 * 1024 {
                return Err(protocol("authentication reply too long"));
            }
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(protocol("connection closed during authentication"));
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), DbusError> {
        let from_pending = buf.len().min(self.pending.len());
        buf[..from_pending].copy_from_slice(&self.pending[..from_pending]);
        self.pending.drain(..from_pending);
        self.stream.read_exact(&mut buf[from_pending..])?;
        Ok(())
    }

    fn read_message(&mut self) -> Result<Message, DbusError> {
        let mut fixed = [0u8; 16];
        self.read_exact(&mut fixed)?;
        let total = message_len(&fixed)?;
        let mut bytes = vec![0u8; total];
        bytes[..16].copy_from_slice(&fixed);
        self.read_exact(&mut bytes[16..])?;
        parse_message(bytes)
    }

    /// Sends `call` and waits for its reply, skipping any other message
    /// (signals, the bus's NameAcquired). An ERROR reply is returned as
    /// [`DbusError::Method`].
    pub fn call(&mut self, call: &Call<'_>) -> Result<Message, DbusError> {
        self.serial = self.serial.wrapping_add(1).max(1);
        let serial = self.serial;
        self.stream.write_all(&method_call(call, serial))?;
        loop {
            let msg = self.read_message()?;
            if msg.reply_serial != Some(serial) {
                continue;
            }
            match msg.kind {
                METHOD_RETURN => return Ok(msg),
                ERROR => {
                    return Err(DbusError::Method {
                        name: msg.error_name.clone().unwrap_or_default(),
                        message: msg.first_string().unwrap_or_default(),
                    })
                }
                _ => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `s`: a u32 length, the bytes, a nul.
    fn s(v: &str) -> Vec<u8> {
        let mut b = (v.len() as u32).to_le_bytes().to_vec();
        b.extend_from_slice(v.as_bytes());
        b.push(0);
        b
    }

    fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn bool_property() {
        let mut w = Writer::new();
        w.properties(&[("Delegate", Value::Bool(true))]);
        let want = cat(&[
            &20u32.to_le_bytes(), // array length: bytes 8..28
            &[0; 4],              // pad to the struct's 8
            &s("Delegate"),       // 8..21
            &[1, b'b', 0],        // variant signature, 21..24
            &[1, 0, 0, 0],        // b is a u32, 24..28
        ]);
        assert_eq!(w.into_bytes(), want);
    }

    #[test]
    fn u64_property_is_8_aligned() {
        let mut w = Writer::new();
        w.properties(&[("MemoryMax", Value::U64(67108864))]);
        let want = cat(&[
            &32u32.to_le_bytes(),
            &[0; 4],
            &s("MemoryMax"),            // 8..22
            &[1, b't', 0],              // 22..25
            &[0; 7],                    // pad to 32
            &67108864u64.to_le_bytes(), // 32..40
        ]);
        assert_eq!(w.into_bytes(), want);
    }

    #[test]
    fn u32_array_and_string_properties() {
        let mut w = Writer::new();
        w.properties(&[
            ("PIDs", Value::U32Array(vec![7, 8])),
            ("Slice", Value::Str("system.slice".into())),
        ]);
        let want = cat(&[
            &65u32.to_le_bytes(), // 8..73
            &[0; 4],
            &s("PIDs"),          // 8..17
            &[2, b'a', b'u', 0], // 17..21
            &[0; 3],             // pad to 24
            &8u32.to_le_bytes(), // inner length, 24..28
            &7u32.to_le_bytes(), // 28..32
            &8u32.to_le_bytes(), // 32..36
            &[0; 4],             // next struct at 40
            &s("Slice"),         // 40..50
            &[1, b's', 0],       // 50..53
            &[0; 3],             // pad to 56
            &s("system.slice"),  // 56..73
        ]);
        assert_eq!(w.into_bytes(), want);
    }

    #[test]
    fn string_pair_array_property() {
        let mut w = Writer::new();
        w.properties(&[(
            "DeviceAllow",
            Value::StrPairs(vec![("char-pts".into(), "rwm".into())]),
        )]);
        let want = cat(&[
            &56u32.to_le_bytes(), // 8..64
            &[0; 4],
            &s("DeviceAllow"),                     // 8..24
            &[5, b'a', b'(', b's', b's', b')', 0], // 24..31
            &[0; 1],                               // pad to 32
            &24u32.to_le_bytes(),                  // inner length: 40..64
            &[0; 4],                               // first struct at 40
            &s("char-pts"),                        // 40..53
            &[0; 3],                               // pad to 56
            &s("rwm"),                             // 56..64
        ]);
        assert_eq!(w.into_bytes(), want);
    }

    #[test]
    fn empty_struct_array_keeps_its_padding() {
        let mut w = Writer::new();
        w.byte(1);
        w.array(8, |_| {});
        // length at 4..8, then padding to 8 (none here), no elements.
        assert_eq!(w.into_bytes(), [1, 0, 0, 0, 0, 0, 0, 0]);
        let mut w = Writer::new();
        w.array(8, |_| {});
        // length at 0..4, padded to 8 for the (absent) first struct.
        assert_eq!(w.into_bytes(), [0; 8]);
    }

    #[test]
    fn hello_call_layout() {
        let bytes = method_call(&Call::hello(), 1);
        let want = cat(&[
            &[b'l', 1, 0, 1],
            &0u32.to_le_bytes(),         // body length
            &1u32.to_le_bytes(),         // serial
            &109u32.to_le_bytes(),       // fields: 16..125
            &[1, 1, b'o', 0],            // PATH
            &s("/org/freedesktop/DBus"), // 20..46
            &[0; 2],                     // pad to 48
            &[2, 1, b's', 0],            // INTERFACE
            &s("org.freedesktop.DBus"),  // 52..77
            &[0; 3],                     // pad to 80
            &[3, 1, b's', 0],            // MEMBER
            &s("Hello"),                 // 84..94
            &[0; 2],                     // pad to 96
            &[6, 1, b's', 0],            // DESTINATION
            &s("org.freedesktop.DBus"),  // 100..125
            &[0; 3],                     // header padded to 128, no body
        ]);
        assert_eq!(bytes, want);
    }

    #[test]
    fn call_with_body_has_signature_field() {
        let mut body = Writer::new();
        body.string("x.scope");
        body.string("replace");
        let body = body.into_bytes();
        let bytes = method_call(
            &Call {
                destination: None,
                path: "/p",
                interface: "i.f",
                member: "StopUnit",
                signature: "ss",
                body: body.clone(),
            },
            7,
        );
        let want = cat(&[
            &[b'l', 1, 0, 1],
            &24u32.to_le_bytes(), // body length
            &7u32.to_le_bytes(),
            &64u32.to_le_bytes(), // fields: 16..80
            &[1, 1, b'o', 0],
            &s("/p"), // 20..27
            &[0; 5],  // pad to 32
            &[2, 1, b's', 0],
            &s("i.f"), // 36..44
            &[0; 4],   // pad to 48
            &[3, 1, b's', 0],
            &s("StopUnit"), // 52..65
            &[0; 7],        // pad to 72
            &[8, 1, b'g', 0],
            &[2, b's', b's', 0], // 76..80, the body follows at 80
            &s("x.scope"),       // 80..92
            &s("replace"),       // 92..104
        ]);
        assert_eq!(bytes, want);
        let parsed = parse_message(bytes).unwrap();
        assert_eq!(parsed.signature, "ss");
        assert_eq!(parsed.first_string().as_deref(), Some("x.scope"));
    }

    /// An ERROR reply as a peer would send it, little- and big-endian.
    fn error_reply(big: bool) -> Vec<u8> {
        let u = |v: u32| {
            if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let st = |v: &str| {
            let mut b = u(v.len() as u32).to_vec();
            b.extend_from_slice(v.as_bytes());
            b.push(0);
            b
        };
        let name = "org.freedesktop.systemd1.NoSuchUnit";
        let text = "Unit x.scope not loaded.";
        let body = st(text);
        cat(&[
            &[if big { b'B' } else { b'l' }, ERROR, 1, 1],
            &u(body.len() as u32),
            &u(9),
            // ERROR_NAME 16..60, REPLY_SERIAL 64..72, SIGNATURE 72..79
            &u(63),
            &[4, 1, b's', 0],
            &st(name), // 20..60
            &[0; 4],   // pad to 64
            &[5, 1, b'u', 0],
            &u(3), // 68..72
            &[8, 1, b'g', 0],
            &[1, b's', 0], // 76..79
            &[0; 1],       // body at 80
            &body,
        ])
    }

    #[test]
    fn error_replies_both_endians() {
        for big in [false, true] {
            let bytes = error_reply(big);
            let mut fixed = [0u8; 16];
            fixed.copy_from_slice(&bytes[..16]);
            assert_eq!(message_len(&fixed).unwrap(), bytes.len());
            let m = parse_message(bytes).unwrap();
            assert_eq!(m.kind, ERROR);
            assert_eq!(m.reply_serial, Some(3));
            assert_eq!(
                m.error_name.as_deref(),
                Some("org.freedesktop.systemd1.NoSuchUnit")
            );
            assert_eq!(
                m.first_string().as_deref(),
                Some("Unit x.scope not loaded.")
            );
        }
    }

    #[test]
    fn truncated_and_oversized_messages_are_errors() {
        let mut bytes = error_reply(false);
        bytes.truncate(70);
        assert!(parse_message(bytes).is_err());
        let mut fixed = [0u8; 16];
        fixed[0] = b'l';
        fixed[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(message_len(&fixed).is_err());
        fixed[0] = b'x';
        assert!(message_len(&fixed).is_err());
    }

    /// Auth, Hello, calls with and without a body, skipping the
    /// NameAcquired signal and an ERROR reply, against a real bus daemon
    /// (skipped where dbus-daemon is not installed).
    #[test]
    fn talks_to_a_bus_daemon() {
        let dir = std::env::temp_dir().join(format!("berth-dbus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("bus");
        let child = std::process::Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile"])
            .arg(format!("--address=unix:path={}", sock.display()))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        let Ok(mut child) = child else {
            eprintln!("skipped: no dbus-daemon");
            return;
        };
        let result = std::panic::catch_unwind(|| {
            let bus = |member, signature, body: Writer| Call {
                destination: Some("org.freedesktop.DBus"),
                path: "/org/freedesktop/DBus",
                interface: "org.freedesktop.DBus",
                member,
                signature,
                body: body.into_bytes(),
            };
            // Until the daemon listens (its socket file appears at bind, before
            // listen): retry for up to 5 s.
            let mut tries = 0;
            let mut conn = loop {
                match Connection::open(sock.to_str().unwrap(), true) {
                    Err(_) if tries < 500 => {
                        tries += 1;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    r => break r.unwrap(),
                }
            };
            let id = conn.call(&bus("GetId", "", Writer::new())).unwrap();
            assert_eq!(id.first_string().map(|s| s.len()), Some(32));
            let mut body = Writer::new();
            body.string("org.freedesktop.DBus");
            let owner = conn.call(&bus("GetNameOwner", "s", body)).unwrap();
            assert_eq!(
                owner.first_string().as_deref(),
                Some("org.freedesktop.DBus")
            );
            let mut body = Writer::new();
            body.string("no.such.name");
            match conn.call(&bus("GetNameOwner", "s", body)) {
                Err(DbusError::Method { name, message }) => {
                    assert_eq!(name, "org.freedesktop.DBus.Error.NameHasNoOwner");
                    assert!(message.contains("no.such.name"), "{message}");
                }
                other => panic!("{other:?}"),
            }
        });
        let _ = child.kill();
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
        if let Err(e) = result {
            std::panic::resume_unwind(e);
        }
    }
}
