//! berth: an OCI container runtime library.
