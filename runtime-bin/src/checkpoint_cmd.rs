//! `berth checkpoint` and `berth restore`: runc's flags over the library's
//! CRIU driver (libcontainer/src/checkpoint.rs).

use std::path::{Path, PathBuf};

use berth::checkpoint::{self, CgroupsMode, CheckpointOptions, CriuOptions, RestoreOptions};
use berth::Container;
use clap::{Args, ValueEnum};

/// CRIU's cgroup modes, as runc spells them.
#[derive(Clone, Copy, ValueEnum)]
pub enum ManageCgroupsMode {
    /// Restore properties only of cgroups CRIU creates (default)
    Soft,
    /// Restore every property
    Full,
    /// Fail unless the cgroups are as dumped
    Strict,
    /// Leave cgroups alone
    Ignore,
}

/// Flags shared by checkpoint and restore.
#[derive(Args)]
pub struct CriuArgs {
    /// Path for the CRIU image files (default: ./checkpoint)
    #[arg(long = "image-path")]
    image_path: Option<PathBuf>,
    /// Path for CRIU's work files and logs (default: the image path)
    #[arg(long = "work-path")]
    work_path: Option<PathBuf>,
    /// Allow open TCP connections
    #[arg(long = "tcp-established")]
    tcp_established: bool,
    /// Allow external unix sockets
    #[arg(long = "ext-unix-sk")]
    ext_unix_sk: bool,
    /// Allow shell jobs
    #[arg(long = "shell-job")]
    shell_job: bool,
    /// Handle file locks
    #[arg(long = "file-locks")]
    file_locks: bool,
    /// cgroups mode
    #[arg(long = "manage-cgroups-mode", value_enum)]
    manage_cgroups_mode: Option<ManageCgroupsMode>,
    /// Create a namespace, but don't restore its properties (only "network")
    #[arg(long = "empty-ns")]
    empty_ns: Vec<String>,
    /// Deduplicate memory images
    #[arg(long = "auto-dedup")]
    auto_dedup: bool,
    /// Restore memory pages lazily with userfaultfd (not supported)
    #[arg(long = "lazy-pages")]
    lazy_pages: bool,
}

impl CriuArgs {
    fn options(&self) -> CriuOptions {
        CriuOptions {
            image_path: self.image_path.clone(),
            work_path: self.work_path.clone(),
            tcp_established: self.tcp_established,
            ext_unix_sk: self.ext_unix_sk,
            shell_job: self.shell_job,
            file_locks: self.file_locks,
            manage_cgroups_mode: match self.manage_cgroups_mode {
                None | Some(ManageCgroupsMode::Soft) => CgroupsMode::Soft,
                Some(ManageCgroupsMode::Full) => CgroupsMode::Full,
                Some(ManageCgroupsMode::Strict) => CgroupsMode::Strict,
                Some(ManageCgroupsMode::Ignore) => CgroupsMode::Ignore,
            },
            empty_ns: self.empty_ns.clone(),
            auto_dedup: self.auto_dedup,
            lazy_pages: self.lazy_pages,
        }
    }
}

/// `berth checkpoint`.
#[derive(Args)]
pub struct CheckpointArgs {
    #[command(flatten)]
    criu: CriuArgs,
    /// Path of a previous pre-dump's images, relative to --image-path
    #[arg(long = "parent-path")]
    parent_path: Option<PathBuf>,
    /// Leave the container running after checkpointing
    #[arg(long = "leave-running")]
    leave_running: bool,
    /// Dump memory only and leave the container running
    #[arg(long = "pre-dump")]
    pre_dump: bool,
    /// ADDRESS:PORT of a CRIU page server
    #[arg(long = "page-server")]
    page_server: Option<String>,
    /// FD CRIU writes \0 to once lazy pages are ready (not supported)
    #[arg(long = "status-fd", allow_negative_numbers = true)]
    status_fd: Option<i32>,
    /// Container ID
    id: String,
}

/// `berth restore`.
#[derive(Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    criu: CriuArgs,
    /// Path to the bundle directory
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Return once the container is restored
    #[arg(short, long)]
    detach: bool,
    /// File to write the restored init's pid to
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Unix socket to receive the pty master (terminal containers: not supported)
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Do not become a subreaper (berth never does: the restored init is its own child)
    #[arg(long = "no-subreaper")]
    no_subreaper: bool,
    /// Do not use pivot_root (not supported: CRIU always pivots)
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// LSM profile (TYPE:NAME) for the restored processes
    #[arg(long = "lsm-profile")]
    lsm_profile: Option<String>,
    /// LSM mount context for the restored mounts
    #[arg(long = "lsm-mount-context")]
    lsm_mount_context: Option<String>,
    /// Container ID
    id: String,
}

pub fn checkpoint(root: &Path, a: &CheckpointArgs) -> Result<u8, String> {
    let opts = CheckpointOptions {
        criu: a.criu.options(),
        parent_path: a.parent_path.clone(),
        leave_running: a.leave_running,
        pre_dump: a.pre_dump,
        page_server: a.page_server.clone(),
        // runc's default -1 means "none".
        status_fd: a.status_fd.filter(|fd| *fd >= 0),
    };
    Container::load(root, &a.id)
        .and_then(|c| c.checkpoint(&opts))
        .map_err(|e| e.to_string())?;
    Ok(0)
}

pub fn restore(root: &Path, a: &RestoreArgs) -> Result<u8, String> {
    // The restored init is berth's own child (CRIU restores it as a
    // sibling of itself), so no subreaper is ever needed.
    let _ = a.no_subreaper;
    let opts = RestoreOptions {
        criu: a.criu.options(),
        id: a.id.clone(),
        bundle: a.bundle.clone(),
        root: root.to_path_buf(),
        detach: a.detach,
        pid_file: a.pid_file.clone(),
        console_socket: a.console_socket.clone(),
        lsm_profile: a.lsm_profile.clone(),
        lsm_mount_context: a.lsm_mount_context.clone(),
        no_pivot: a.no_pivot,
    };
    let code = checkpoint::restore(&opts).map_err(|e| e.to_string())?;
    Ok(code.clamp(0, 255) as u8)
}
