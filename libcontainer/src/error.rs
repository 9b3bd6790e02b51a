//! The library's error type: one enum per layer, wrapped by [`Error`].

use std::io;
use std::path::PathBuf;

/// A problem with the bundle or its config.json, found before anything is
/// created. `field` is the JSON path of the offending value.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The bundle directory is missing or unreadable.
    #[error("bundle {path}: {source}")]
    Bundle {
        /// The bundle path given.
        path: PathBuf,
        /// Why it could not be used.
        source: io::Error,
    },
    /// config.json could not be read.
    #[error("{path}: {source}")]
    ConfigRead {
        /// Path of config.json.
        path: PathBuf,
        /// The read error.
        source: io::Error,
    },
    /// config.json is not valid JSON or does not match the spec's schema.
    #[error("config.json: {field}: {message}")]
    Parse {
        /// JSON path of the field ("." for the document itself).
        field: String,
        /// serde's message, including line and column.
        message: String,
    },
    /// A field holds a value berth rejects.
    #[error("{field}: {message}")]
    Invalid {
        /// JSON path of the field.
        field: String,
        /// What is wrong with the value.
        message: String,
    },
    /// A field berth does not implement yet: refused, never ignored.
    #[error("{field}: {what} is not supported by berth yet")]
    Unsupported {
        /// JSON path of the field.
        field: String,
        /// What was asked for.
        what: String,
    },
}

impl BundleError {
    /// Shorthand for [`BundleError::Invalid`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        BundleError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`BundleError::Unsupported`].
    pub fn unsupported(field: impl Into<String>, what: impl Into<String>) -> Self {
        BundleError::Unsupported {
            field: field.into(),
            what: what.into(),
        }
    }
}

/// Problems with the state directory and container lookup.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The container ID is not acceptable.
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId {
        /// The ID as given (possibly shortened for display).
        id: String,
        /// Why it is rejected.
        reason: &'static str,
    },
    /// Another container has this ID.
    #[error("container with id {0:?} already exists")]
    Exists(String),
    /// No container has this ID.
    #[error("container {0:?} does not exist")]
    NotFound(String),
    /// The requested operation does not fit the container's status.
    #[error("container {id:?} is {status}: {action}")]
    WrongStatus {
        /// Container ID.
        id: String,
        /// Current status.
        status: String,
        /// What cannot be done.
        action: &'static str,
    },
    /// state.json is unreadable or corrupt.
    #[error("state of {id:?}: {message}")]
    Corrupt {
        /// Container ID.
        id: String,
        /// What went wrong.
        message: String,
    },
    /// An I/O error on the state directory.
    #[error("{what} {path}: {source}")]
    Io {
        /// The operation.
        what: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The kernel's reason.
        source: io::Error,
    },
}

/// Marker errno of [`ChildError::runtime_gone`] (no real errno is negative).
const RUNTIME_GONE: i32 = -1;

/// An error reported by the container's init process (or the intermediate
/// process) while it set up the container, carried back over the channel.
#[derive(Debug, Clone, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[error("{step}: {message}")]
pub struct ChildError {
    /// The setup step that failed, e.g. `mount /proc`.
    pub step: String,
    /// The reason, usually the kernel's error text.
    pub message: String,
    /// The errno, when the failure came from a system call.
    pub errno: Option<i32>,
}

impl ChildError {
    /// Builds a ChildError from a step name and an io::Error.
    pub fn io(step: impl Into<String>, err: &io::Error) -> Self {
        ChildError {
            step: step.into(),
            message: err.to_string(),
            errno: err.raw_os_error(),
        }
    }

    /// The runtime stopped talking to us: it reports its own error, so
    /// this one is never printed.
    pub fn runtime_gone(step: impl Into<String>, message: impl Into<String>) -> Self {
        ChildError {
            step: step.into(),
            message: message.into(),
            errno: Some(RUNTIME_GONE),
        }
    }

    /// Whether the runtime went away (see [`ChildError::runtime_gone`]).
    pub fn is_runtime_gone(&self) -> bool {
        self.errno == Some(RUNTIME_GONE)
    }

    /// Builds a ChildError from a step name and a message.
    pub fn msg(step: impl Into<String>, message: impl Into<String>) -> Self {
        ChildError {
            step: step.into(),
            message: message.into(),
            errno: None,
        }
    }
}

/// Errors of the cgroup layer.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A resource the host or berth cannot apply.
    #[error("{field}: {message}")]
    Resource {
        /// JSON path of the field.
        field: String,
        /// Why it cannot be applied.
        message: String,
    },
    /// A cgroup operation failed.
    #[error("cgroup {path}: {what}: {message}")]
    Operation {
        /// The cgroup path.
        path: String,
        /// What was attempted.
        what: &'static str,
        /// The reason.
        message: String,
    },
    /// The systemd driver cannot be used, or systemd refused a request.
    #[error("--systemd-cgroup: {0}")]
    Systemd(String),
}

/// Every error the library returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bundle or config is invalid.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// State directory or lookup problem.
    #[error(transparent)]
    State(#[from] StateError),
    /// The container process failed during setup.
    #[error(transparent)]
    Child(#[from] ChildError),
    /// Cgroup setup failed.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// A system call in the runtime process failed.
    #[error("{what}: {source}")]
    Sys {
        /// The step that failed.
        what: String,
        /// The kernel's reason.
        source: io::Error,
    },
    /// A user-supplied argument (signal name, option) is invalid.
    #[error("{0}")]
    Argument(String),
    /// Checkpoint or restore through CRIU failed.
    #[error(transparent)]
    Criu(#[from] crate::checkpoint::CriuError),
}

impl Error {
    /// Wraps an io::Error with the name of the step that failed.
    pub fn sys(what: impl Into<String>, source: io::Error) -> Self {
        Error::Sys {
            what: what.into(),
            source,
        }
    }
}

/// Result alias of the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;
