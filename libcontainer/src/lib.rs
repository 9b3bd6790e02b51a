//! berth: an OCI container runtime library.
//!
//! Create, start, inspect, signal and delete containers from OCI bundles,
//! the way the `berth` command line (runc's interface) does:
//!
//! ```no_run
//! use berth::{Container, ContainerBuilder};
//! let c = ContainerBuilder::new("web", "/srv/bundles/web").root("/run/berth").create()?;
//! c.start()?;
//! println!("{}", c.state().status);
//! Container::load("/run/berth", "web")?.kill(libc::SIGTERM, false)?;
//! # Ok::<(), berth::Error>(())
//! ```
//!
//! Callers with threads are supported: the child's setup work then runs in
//! a freshly exec'd helper (`berth init`, see [`ContainerBuilder::init_binary`])
//! instead of a plain fork, where only async-signal-safe calls would be allowed.
#![deny(missing_docs)]

pub mod bundle;
pub mod cgroups;
pub mod channel;
pub mod checkpoint;
mod console;
mod container;
mod container_cgroups;
pub mod error;
mod exec;
mod fault;
pub mod features;

pub mod hooks;
pub mod init;
mod json_path;
mod launcher;
pub mod namespaces;
mod netdev;
mod netlink;
mod process;
pub mod rootfs;
mod security;
pub mod signal;
pub mod spec;
pub mod state;
mod sys;
mod tty_proxy;

pub use container::{default_root, exit_code, Container, ContainerBuilder, DEFAULT_ROOT};
pub use error::{Error, Result};
pub use exec::{ExecOptions, SubCgroup};
pub use spec::OCI_VERSION;
pub use state::{StateReport, Status};
