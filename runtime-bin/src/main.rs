//! `berth`: runc's command line over the berth library.

mod cgroup_cmds;
mod checkpoint_cmd;
mod exec_cmd;
mod logging;
#[cfg(test)]
mod man;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use berth::{Container, ContainerBuilder};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "berth",
    version,
    about = "berth: an OCI container runtime",
    disable_help_subcommand = true
)]
struct Cli {
    /// Root directory for container state
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Write log messages to this file instead of stderr
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log debug messages, including the time of each phase
    #[arg(long, global = true)]
    debug: bool,
    /// Manage cgroups through systemd (slice:prefix:name cgroupsPath)
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    command: Command,
}

/// Log line format.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// runc's JSON lines: {"level","msg","time"}.
    Json,
}

#[derive(Args)]
struct CreateArgs {
    /// Path to the bundle directory
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Unix socket that receives the pty master of a terminal container
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// File to write the container's init pid to
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Do not use pivot_root (for a rootfs on ramfs)
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Do not create a new session keyring
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Pass this many fds after stdio (3, 4, …) to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Unix socket that receives a pidfd of the container's init
    #[arg(long = "pidfd-socket")]
    pidfd_socket: Option<PathBuf>,
    /// Container ID
    id: String,
}

#[derive(Subcommand)]
enum Command {
    /// Create a container
    ///
    /// Reads the bundle's config.json, makes the container's namespaces,
    /// cgroup and root filesystem, runs the createRuntime and
    /// createContainer hooks and leaves init waiting for `start`. The
    /// container's status is then "created"; its state is kept under
    /// --root. Any error undoes everything made so far.
    Create(CreateArgs),
    /// Start a created container
    ///
    /// Lets the created container's init execute the process of the config,
    /// then runs the poststart hooks (a failing one is a warning).
    Start {
        /// Container ID
        id: String,
    },
    /// Run a new process in a running container
    ///
    /// The process joins every namespace and the cgroup of the container.
    /// It is the command line's COMMAND with the config's process settings
    /// changed by the flags, or the runtime-spec process object of
    /// --process. In the foreground berth waits for it and exits with its
    /// exit code.
    Exec(Box<exec_cmd::ExecArgs>),
    /// Print what this berth supports on this host (runtime-spec features)
    Features,
    /// Print the state of a container as JSON
    State {
        /// Container ID
        id: String,
    },
    /// Send a signal to a container's init (default TERM)
    ///
    /// SIGNAL is a name (TERM, SIGKILL, RTMIN+2) or a number.
    Kill {
        /// Send the signal to every process of the container
        #[arg(short, long)]
        all: bool,
        /// Container ID
        id: String,
        /// Signal name or number
        signal: Option<String>,
    },
    /// Delete a container and everything it holds
    ///
    /// Removes the state, the cgroup and any process left, and runs the
    /// poststop hooks. A container that is not stopped needs --force; with
    /// --force a container that does not exist is not an error.
    Delete {
        /// Kill a running container first
        #[arg(short, long)]
        force: bool,
        /// Container ID
        id: String,
    },
    /// Create and start a container, wait for it and delete it
    ///
    /// In the foreground berth forwards signals to the container, relays
    /// its terminal when the config asks for one and no console socket is
    /// given, and exits with the container's exit code (128+N when signal N
    /// killed it). With --detach it returns once the container runs.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container is started
        #[arg(short, long)]
        detach: bool,
    },
    /// List the containers
    List {
        /// Output format
        #[arg(short, long, value_enum, default_value = "table")]
        format: ListFormat,
        /// Print only the IDs
        #[arg(short, long)]
        quiet: bool,
    },
    /// Write a default config.json
    Spec {
        /// Directory to write config.json to
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        /// A config for an unprivileged user
        #[arg(long)]
        rootless: bool,
    },
    /// Update a container's resource limits
    Update(Box<cgroup_cmds::UpdateArgs>),
    /// Suspend every process of a container (cgroup freezer)
    Pause {
        /// Container ID
        id: String,
    },
    /// Resume a paused container
    Resume {
        /// Container ID
        id: String,
    },
    /// List the processes of a container
    Ps(cgroup_cmds::PsArgs),
    /// Print resource statistics and OOM notifications of a container
    Events(cgroup_cmds::EventsArgs),
    /// Checkpoint a running container with CRIU
    Checkpoint(Box<checkpoint_cmd::CheckpointArgs>),
    /// Restore a container from a CRIU checkpoint
    Restore(Box<checkpoint_cmd::RestoreArgs>),
    /// (internal) helper process for multi-threaded library callers
    #[command(hide = true)]
    Init,
    /// Not implemented yet
    #[command(external_subcommand)]
    Other(Vec<String>),
}

#[derive(Clone, Copy, ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

fn main() -> ExitCode {
    if std::env::var_os(berth::init::HELPER_ENV).is_some()
        && std::env::args().nth(1).as_deref() == Some("init")
    {
        berth::init::helper_main();
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 1 } else { 0 });
        }
    };
    if let Err(e) = logging::init(cli.log.as_deref(), cli.log_format, cli.debug) {
        eprintln!("berth: {e}");
        return ExitCode::from(1);
    }
    match execute(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(msg) => {
            // The caller's terminal always gets the error; a log file (the
            // engines read runc's JSON lines from it) gets it as well.
            eprintln!("berth: {msg}");
            if cli.log.is_some() {
                tracing::error!("{msg}");
            }
            ExitCode::from(1)
        }
    }
}

fn builder(root: &std::path::Path, a: &CreateArgs) -> ContainerBuilder {
    let mut b = ContainerBuilder::new(a.id.clone(), a.bundle.clone())
        .root(root)
        .preserve_fds(a.preserve_fds)
        .no_pivot(a.no_pivot)
        .no_new_keyring(a.no_new_keyring);
    if let Some(s) = &a.console_socket {
        b = b.console_socket(s);
    }
    if let Some(p) = &a.pid_file {
        b = b.pid_file(p);
    }
    if let Some(p) = &a.pidfd_socket {
        b = b.pidfd_socket(p);
    }
    b
}

fn execute(cli: &Cli) -> Result<u8, String> {
    let root = &cli.root.clone().unwrap_or_else(berth::default_root);
    let err = |e: berth::Error| e.to_string();
    match &cli.command {
        Command::Create(a) => {
            builder(root, a)
                .systemd_cgroup(cli.systemd_cgroup)
                .create()
                .map_err(err)?;
            Ok(0)
        }
        Command::Run { create, detach } => {
            let code = builder(root, create)
                .systemd_cgroup(cli.systemd_cgroup)
                .run(*detach)
                .map_err(err)?;
            Ok(code.clamp(0, 255) as u8)
        }
        Command::Exec(a) => exec_cmd::exec(root, a),
        Command::Features => {
            print_json(&berth::features::features())?;
            Ok(0)
        }
        Command::Start { id } => {
            Container::load(root, id)
                .and_then(|c| c.start())
                .map_err(err)?;
            Ok(0)
        }
        Command::State { id } => {
            let c = Container::load(root, id).map_err(err)?;
            print_json(&c.state())?;
            Ok(0)
        }
        Command::Kill { all, id, signal } => {
            let sig =
                berth::signal::parse_signal(signal.as_deref().unwrap_or("TERM")).map_err(err)?;
            Container::load(root, id)
                .and_then(|c| c.kill(sig, *all))
                .map_err(err)?;
            Ok(0)
        }
        Command::Delete { force, id } => {
            match Container::load(root, id) {
                Ok(c) => c.delete(*force).map_err(err)?,
                // An engine deletes twice: a missing container is fine with --force.
                Err(berth::Error::State(berth::error::StateError::NotFound(_))) if *force => {}
                Err(e) => return Err(err(e)),
            }
            Ok(0)
        }
        Command::List { format, quiet } => {
            let states = Container::list(root).map_err(err)?;
            list(&states, *format, *quiet)?;
            Ok(0)
        }
        Command::Spec { bundle, rootless } => {
            write_spec(bundle, *rootless)?;
            Ok(0)
        }
        Command::Update(a) => cgroup_cmds::update(root, a),
        Command::Pause { id } => cgroup_cmds::pause(root, id),
        Command::Resume { id } => cgroup_cmds::resume(root, id),
        Command::Ps(a) => cgroup_cmds::ps(root, a),
        Command::Events(a) => cgroup_cmds::events(root, a),
        Command::Checkpoint(a) => checkpoint_cmd::checkpoint(root, a),
        Command::Restore(a) => {
            if cli.systemd_cgroup {
                return Err(
                    "restore --systemd-cgroup: restoring into a systemd scope is not supported by berth yet".into(),
                );
            }
            checkpoint_cmd::restore(root, a)
        }
        Command::Init => Err("init is internal to berth and is not to be run by hand".into()),
        Command::Other(args) => Err(format!(
            "{}: command not supported by berth yet",
            args.first().map(String::as_str).unwrap_or("?")
        )),
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<(), String> {
    let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").map_err(|e| e.to_string())
}

fn list(states: &[berth::StateReport], format: ListFormat, quiet: bool) -> Result<(), String> {
    let mut out = std::io::stdout().lock();
    let w =
        |out: &mut std::io::StdoutLock, s: String| writeln!(out, "{s}").map_err(|e| e.to_string());
    if quiet {
        for s in states {
            w(&mut out, s.id.clone())?;
        }
        return Ok(());
    }
    match format {
        ListFormat::Json => {
            drop(out);
            print_json(&states)
        }
        ListFormat::Table => {
            let rows: Vec<[String; 6]> = states
                .iter()
                .map(|s| {
                    [
                        s.id.clone(),
                        s.pid.to_string(),
                        s.status.to_string(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                        s.owner.clone(),
                    ]
                })
                .collect();
            let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
            let mut widths = header.clone().map(|h| h.len());
            for r in &rows {
                for (i, c) in r.iter().enumerate() {
                    widths[i] = widths[i].max(c.len());
                }
            }
            for r in std::iter::once(&header).chain(rows.iter()) {
                let line: Vec<String> = r
                    .iter()
                    .enumerate()
                    .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
                    .collect();
                w(&mut out, line.join("   ").trim_end().to_string())?;
            }
            Ok(())
        }
    }
}

fn write_spec(bundle: &std::path::Path, rootless: bool) -> Result<(), String> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(format!("{}: file exists, remove it first", path.display()));
    }
    let config = if rootless {
        use std::os::unix::fs::MetadataExt;
        let me = std::fs::metadata("/proc/self").map_err(|e| e.to_string())?;
        berth::spec::rootless_config(me.uid(), me.gid())
    } else {
        berth::spec::default_config()
    };
    let text = serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?;
    std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
}
