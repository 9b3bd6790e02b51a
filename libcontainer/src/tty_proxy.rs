//! The terminal of a foreground `run` or `exec` when the caller gave no
//! console socket: berth receives the pty master itself and relays it to
//! its own stdin and stdout, as runc does.

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use crate::container::{exit_code, FORWARDED};
use crate::error::{Error, Result};
use crate::sys;

/// Receives the pty master init sends over our end of the console pair.
pub(crate) fn receive_master(ours: &UnixStream) -> Result<OwnedFd> {
    let mut name = [0u8; 128];
    let (_, fd) =
        sys::recv_fd(ours.as_fd(), &mut name).map_err(|e| Error::sys("receive pty master", e))?;
    fd.ok_or_else(|| Error::sys("receive pty master", std::io::Error::other("no fd sent")))
}

/// Relays stdin → master and master → stdout, forwards signals (the
/// caller blocked [`FORWARDED`]) and window size changes, until `pid`
/// exits; returns its exit code.
pub(crate) fn relay(master: OwnedFd, pid: libc::pid_t) -> Result<i32> {
    let stdin = sys::borrow_raw(0);
    let raw_mode = if sys::isatty(stdin) {
        if let Ok((rows, cols)) = sys::window_size(stdin) {
            let _ = sys::set_window_size(master.as_fd(), rows, cols);
        }
        sys::make_raw(stdin).ok()
    } else {
        None
    };
    let result = relay_loop(&master, pid);
    if let Some(mode) = &raw_mode {
        sys::restore_mode(stdin, mode);
    }
    result
}

fn relay_loop(master: &OwnedFd, pid: libc::pid_t) -> Result<i32> {
    let sfd = sys::signalfd(FORWARDED).map_err(|e| Error::sys("signalfd", e))?;
    let exited = crate::container::exit_watch(pid);
    let stdin = sys::borrow_raw(0);
    let mut master_file =
        std::fs::File::from(master.try_clone().map_err(|e| Error::sys("dup pty", e))?);
    let mut stdout = std::io::stdout();
    let mut stdin_open = true;
    let mut master_open = true;
    let mut buf = [0u8; 8192];
    loop {
        let mut fds = vec![(sfd.as_fd(), libc::POLLIN)];
        if master_open {
            fds.push((master.as_fd(), libc::POLLIN));
        }
        if stdin_open {
            fds.push((stdin, libc::POLLIN));
        }
        // Last, so the indexes below hold.
        fds.extend(exited.as_ref().map(|p| (p.as_fd(), libc::POLLIN)));
        let revents = sys::poll(&fds, -1).map_err(|e| Error::sys("poll", e))?;
        let process_exited = exited.is_some() && revents[fds.len() - 1] & libc::POLLIN != 0;
        if revents[0] != 0 || process_exited {
            // Taken by another thread meanwhile: check on the process.
            let sig = if revents[0] != 0 {
                sys::read_signalfd(sfd.as_fd())
                    .map_err(|e| Error::sys("read signal", e))?
                    .unwrap_or(libc::SIGCHLD)
            } else {
                libc::SIGCHLD
            };
            match sig {
                libc::SIGCHLD => {
                    if let Ok((p, status)) = sys::waitpid(pid, libc::WNOHANG) {
                        if p == pid {
                            // Drain what the process wrote last.
                            while master_open {
                                match sys::poll(&[(master.as_fd(), libc::POLLIN)], 0) {
                                    Ok(r) if r[0] & libc::POLLIN != 0 => {
                                        match master_file.read(&mut buf) {
                                            Ok(n) if n > 0 => {
                                                let _ = stdout.write_all(&buf[..n]);
                                            }
                                            _ => master_open = false,
                                        }
                                    }
                                    _ => master_open = false,
                                }
                            }
                            let _ = stdout.flush();
                            return Ok(exit_code(status));
                        }
                    }
                }
                libc::SIGWINCH => {
                    if let Ok((rows, cols)) = sys::window_size(stdin) {
                        let _ = sys::set_window_size(master.as_fd(), rows, cols);
                    }
                }
                other => {
                    let _ = sys::kill(pid, other);
                }
            }
            continue;
        }
        let mut i = 1;
        if master_open {
            if revents[i] & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                match master_file.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        let _ = stdout.write_all(&buf[..n]);
                        let _ = stdout.flush();
                    }
                    // EIO once the last slave fd is closed.
                    _ => master_open = false,
                }
            }
            i += 1;
        }
        if stdin_open && revents[i] & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            let mut input = std::io::stdin().lock();
            match input.read(&mut buf) {
                Ok(n) if n > 0 => {
                    let _ = master_file.write_all(&buf[..n]);
                }
                _ => stdin_open = false,
            }
        }
    }
}
