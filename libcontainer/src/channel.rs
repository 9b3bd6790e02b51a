//! Typed messages between the runtime (parent) and the processes it starts
//! (the intermediate process and the container's init).
//!
//! Frames are a 4-byte little-endian length followed by JSON, over a unix
//! stream socketpair created close-on-exec.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::error::ChildError;
use crate::init::InitPlan;

/// Largest frame accepted (a config with many mounts is a few hundred KiB).
const MAX_FRAME: usize = 16 << 20;

/// Parent → child messages.
#[derive(Debug, Serialize, Deserialize)]
pub enum ToChild {
    /// The whole plan, sent only to a freshly exec'd helper (the in-process
    /// path inherits it in memory).
    Plan(Box<InitPlan>),
    /// The uid/gid maps of the new user namespace are written.
    MappingsWritten,
    /// Init's cgroup is ready (its host pid is given): go on with the setup.
    Continue {
        /// Init's pid in the runtime's pid namespace (for hook states).
        init_pid: i32,
        /// cgroup v1 `tasks` files init moves itself into by writing "0"
        /// (named for errors); their fds follow, one SCM_RIGHTS message
        /// each. Empty when the runtime moved init.
        join_tasks: Vec<String>,
    },
    /// The prestart and createRuntime hooks ran.
    HooksDone,
}

/// Child → parent messages.
#[derive(Debug, Serialize, Deserialize)]
pub enum FromChild {
    /// The intermediate process created a user namespace and waits for its
    /// maps to be written.
    WriteMappings,
    /// The host pid of the container's init, sent by the intermediate process.
    InitPid(i32),
    /// The host pid of init, born in the container's cgroup by
    /// clone3(CLONE_INTO_CGROUP): the runtime need not move it.
    InitPidInCgroup(i32),
    /// clone3(CLONE_INTO_CGROUP) failed after the kernel had allocated
    /// init's pid, which leaves a new pid namespace without a way to get
    /// its first process: the intermediate exits, the runtime starts over
    /// with a plain clone. The kernel's reason.
    IntoCgroupFailed(String),
    /// Init loaded a seccomp filter with a notification listener; the fd
    /// follows as SCM_RIGHTS on a one-byte message.
    SeccompListener,
    /// Init's mounts are ready: the runtime runs prestart and createRuntime
    /// hooks now, before pivot_root.
    RunRuntimeHooks,
    /// Init finished its setup and waits for start (or execs now, for exec).
    Ready,
    /// A setup step failed.
    Failed(ChildError),
}

/// One end of the channel.
pub struct Channel {
    stream: UnixStream,
    /// Whether the peer still reads failures (see [`Channel::send_ready`]).
    peer_reads_failures: bool,
}

impl Channel {
    /// A connected pair (parent end, child end).
    pub fn pair() -> io::Result<(Channel, Channel)> {
        let (a, b) = UnixStream::pair()?;
        Ok((Channel::from_stream(a), Channel::from_stream(b)))
    }

    /// Wraps an inherited stream (the helper's end).
    pub fn from_stream(stream: UnixStream) -> Channel {
        Channel {
            stream,
            peer_reads_failures: true,
        }
    }

    /// Gives up the wrapper, returning the socket.
    pub fn into_stream(self) -> UnixStream {
        self.stream
    }

    /// The underlying socket.
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// Sends one message.
    pub fn send<T: Serialize>(&mut self, msg: &T) -> io::Result<()> {
        let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
        let mut frame = Vec::with_capacity(body.len() + 4);
        frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame)
    }

    /// Receives one message; `Ok(None)` when the peer closed the channel.
    pub fn recv<T: DeserializeOwned>(&mut self) -> io::Result<Option<T>> {
        let mut len = [0u8; 4];
        match self.stream.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e),
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("channel frame of {len} bytes is too large"),
            ));
        }
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body)?;
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Sends `Ready`, the last message the runtime reads: a later failure
    /// (the execve) could sit unread in the socket until the runtime closes
    /// its end, so [`Channel::report_failure`] writes it to stderr instead.
    pub fn send_ready(&mut self) -> io::Result<()> {
        self.send(&FromChild::Ready)?;
        self.peer_reads_failures = false;
        Ok(())
    }

    /// Sends a failure report; used by the child on its way out. When the
    /// runtime no longer listens (after `Ready`, or it has gone), the error
    /// goes to the container's stderr instead, so it is not lost.
    pub fn report_failure(&mut self, err: ChildError) {
        let sent = self.peer_reads_failures && self.send(&FromChild::Failed(err.clone())).is_ok();
        if !sent && !err.is_runtime_gone() {
            let _ = writeln!(io::stderr(), "berth: container init: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let (mut a, mut b) = Channel::pair().unwrap();
        a.send(&FromChild::InitPid(42)).unwrap();
        a.send(&FromChild::Failed(ChildError::msg("mount /proc", "EPERM")))
            .unwrap();
        drop(a);
        assert!(matches!(
            b.recv::<FromChild>().unwrap(),
            Some(FromChild::InitPid(42))
        ));
        match b.recv::<FromChild>().unwrap() {
            Some(FromChild::Failed(e)) => assert_eq!(e.to_string(), "mount /proc: EPERM"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(b.recv::<FromChild>().unwrap().is_none());
    }
}
