//! The container's terminal: a pty allocated inside the container, whose
//! master goes to the caller over the console socket (SCM_RIGHTS).

use std::os::fd::{AsFd, OwnedFd};

use crate::error::ChildError;
use crate::rootfs::path::cstr;
use crate::sys;

/// Allocates a pty from the container's /dev/ptmx, sends the master over
/// `socket`, and makes the slave our controlling terminal and stdio.
pub fn setup_console(socket: &OwnedFd, size: Option<(u16, u16)>) -> Result<(), ChildError> {
    let step = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| ChildError::io(format!("console: {what}"), &e)
    };
    let ptmx = cstr("/dev/ptmx").map_err(step("path"))?;
    let master =
        sys::open(&ptmx, libc::O_RDWR | libc::O_NOCTTY, 0).map_err(step("open /dev/ptmx"))?;
    let number = sys::unlock_pty(master.as_fd()).map_err(step("unlock pty"))?;
    let slave = sys::open_pty_slave(number).map_err(step("open pty slave"))?;
    if let Some((rows, cols)) = size {
        sys::set_window_size(slave.as_fd(), rows, cols).map_err(step("set window size"))?;
    }
    let name = format!("/dev/pts/{number}");
    sys::send_fd(socket.as_fd(), name.as_bytes(), master.as_fd())
        .map_err(step("send pty master to the console socket"))?;
    drop(master);
    sys::setsid().map_err(step("setsid"))?;
    sys::set_controlling_tty(slave.as_fd()).map_err(step("set controlling terminal"))?;
    for fd in 0..3 {
        sys::dup2(slave.as_fd(), fd).map_err(step("dup pty to stdio"))?;
    }
    Ok(())
}
