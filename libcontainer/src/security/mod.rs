//! Privileges of the container process: capabilities and no_new_privs.

pub mod capabilities;
