//! Privileges of the container process: capabilities and seccomp.

pub mod capabilities;
pub mod lsm;
pub mod seccomp;
