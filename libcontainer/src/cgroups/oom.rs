//! OOM notifications of the v1 memory controller: an eventfd registered
//! for `memory.oom_control` through `cgroup.event_control`. The kernel
//! adds one to the counter each time the cgroup hits its limit and the OOM
//! killer (or the wait, with disableOOMKiller) kicks in.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::sys;

/// A registered OOM notification.
pub struct OomNotifier {
    efd: File,
    // Kept open: the registration lives as long as both descriptors.
    _oom_control: File,
    event_control: PathBuf,
}

impl OomNotifier {
    /// Registers for OOM notifications of the memory cgroup at `memory_dir`.
    pub fn register(memory_dir: &Path) -> io::Result<OomNotifier> {
        let efd = File::from(sys::eventfd()?);
        let oom_control = File::open(memory_dir.join("memory.oom_control"))?;
        let event_control = memory_dir.join("cgroup.event_control");
        std::fs::write(
            &event_control,
            format!("{} {}", efd.as_raw_fd(), oom_control.as_raw_fd()),
        )?;
        Ok(OomNotifier {
            efd,
            _oom_control: oom_control,
            event_control,
        })
    }

    /// Waits up to `timeout` and returns the number of OOM notifications
    /// since the last call (0 on timeout). The removal of the cgroup also
    /// wakes the eventfd; that is not counted.
    pub fn wait(&self, timeout: Duration) -> io::Result<u64> {
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        sys::poll_readable(&self.efd, ms);
        self.take()
    }

    /// The notifications pending now, without waiting.
    pub fn take(&self) -> io::Result<u64> {
        let mut buf = [0u8; 8];
        match (&self.efd).read(&mut buf) {
            Ok(8) if self.event_control.exists() => Ok(u64::from_ne_bytes(buf)),
            Ok(_) => Ok(0),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }
}
