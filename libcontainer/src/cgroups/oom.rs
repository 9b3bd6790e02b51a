//! OOM notifications.
//!
//! * cgroup v1: an eventfd registered for `memory.oom_control` through
//!   `cgroup.event_control`. The kernel adds one to the counter each time
//!   the cgroup hits its limit and the OOM killer (or the wait, with
//!   disableOOMKiller) kicks in.
//! * cgroup v2: the `oom_kill` counter of `memory.events` (the cgroup and
//!   its sub-cgroups). The file is polled for POLLPRI, which the kernel
//!   raises whenever one of its counters changes.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::sys;

/// A registered OOM notification.
pub struct OomNotifier {
    inner: Inner,
}

enum Inner {
    V1 {
        efd: File,
        // Kept open: the registration lives as long as both descriptors.
        _oom_control: File,
        event_control: PathBuf,
    },
    V2 {
        events: File,
        /// oom_kill as last read.
        seen: Cell<u64>,
    },
}

fn timeout_ms(timeout: Duration) -> i32 {
    timeout.as_millis().min(i32::MAX as u128) as i32
}

impl OomNotifier {
    /// Registers for OOM notifications of the v1 memory cgroup at `memory_dir`.
    pub fn register(memory_dir: &Path) -> io::Result<OomNotifier> {
        let efd = File::from(sys::eventfd()?);
        let oom_control = File::open(memory_dir.join("memory.oom_control"))?;
        let event_control = memory_dir.join("cgroup.event_control");
        std::fs::write(
            &event_control,
            format!("{} {}", efd.as_raw_fd(), oom_control.as_raw_fd()),
        )?;
        Ok(OomNotifier {
            inner: Inner::V1 {
                efd,
                _oom_control: oom_control,
                event_control,
            },
        })
    }

    /// Watches `memory.events` of the v2 cgroup at `dir`; OOM kills before
    /// this call are not reported.
    pub fn register_v2(dir: &Path) -> io::Result<OomNotifier> {
        let events = File::open(dir.join("memory.events"))?;
        let seen = Cell::new(oom_kills(&events)?);
        Ok(OomNotifier {
            inner: Inner::V2 { events, seen },
        })
    }

    /// Waits up to `timeout` and returns the number of OOM notifications
    /// since the last call (0 on timeout). The removal of the cgroup also
    /// wakes the wait; that is not counted.
    pub fn wait(&self, timeout: Duration) -> io::Result<u64> {
        match &self.inner {
            Inner::V1 { efd, .. } => {
                sys::poll_readable(efd, timeout_ms(timeout));
            }
            Inner::V2 { events, .. } => {
                let revents = sys::poll(&[(events.as_fd(), libc::POLLPRI)], timeout_ms(timeout))?;
                if revents.first().is_some_and(|r| r & libc::POLLNVAL != 0) {
                    std::thread::sleep(timeout);
                }
            }
        }
        self.take()
    }

    /// The notifications pending now, without waiting.
    pub fn take(&self) -> io::Result<u64> {
        match &self.inner {
            Inner::V1 {
                efd, event_control, ..
            } => {
                let mut buf = [0u8; 8];
                match (&*efd).read(&mut buf) {
                    Ok(8) if event_control.exists() => Ok(u64::from_ne_bytes(buf)),
                    Ok(_) => Ok(0),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
                    Err(e) => Err(e),
                }
            }
            Inner::V2 { events, seen } => {
                // A cgroup removed meanwhile reads as an error: nothing new.
                let now = oom_kills(events).unwrap_or(seen.get());
                let new = now.saturating_sub(seen.get());
                seen.set(now);
                Ok(new)
            }
        }
    }
}

/// The oom_kill counter of an open memory.events (reading it again from the
/// start also re-arms POLLPRI).
fn oom_kills(mut file: &File) -> io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(super::stats::key_values(&text)
        .get("oom_kill")
        .copied()
        .unwrap_or(0))
}
