//! The six hook kinds of the runtime spec. Each hook gets the container's
//! state as JSON on stdin, its own args and env, and an optional timeout.
//!
//! Where they run: prestart and createRuntime in the runtime's namespaces
//! (by the runtime, while init waits before pivot_root); createContainer in
//! the container's namespaces before pivot_root and startContainer after
//! `start`, before the user's program (both by init); poststart by `start`;
//! poststop by `delete`.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks, Spec};

use crate::error::ChildError;

/// The hook kinds, named as in config.json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// Deprecated prestart (run with createRuntime).
    Prestart,
    /// After the namespaces exist, in the runtime's namespaces.
    CreateRuntime,
    /// In the container's namespaces, before pivot_root.
    CreateContainer,
    /// In the container, right before the user's program.
    StartContainer,
    /// After start, by the runtime.
    Poststart,
    /// After the container is deleted, by the runtime.
    Poststop,
}

impl HookKind {
    /// The JSON field name under `hooks`.
    pub fn field(self) -> &'static str {
        match self {
            HookKind::Prestart => "prestart",
            HookKind::CreateRuntime => "createRuntime",
            HookKind::CreateContainer => "createContainer",
            HookKind::StartContainer => "startContainer",
            HookKind::Poststart => "poststart",
            HookKind::Poststop => "poststop",
        }
    }

    fn list(self, hooks: &Hooks) -> &Option<Vec<Hook>> {
        #[allow(deprecated)]
        match self {
            HookKind::Prestart => hooks.prestart(),
            HookKind::CreateRuntime => hooks.create_runtime(),
            HookKind::CreateContainer => hooks.create_container(),
            HookKind::StartContainer => hooks.start_container(),
            HookKind::Poststart => hooks.poststart(),
            HookKind::Poststop => hooks.poststop(),
        }
    }
}

/// The hooks of `kind` in the config (empty when none).
pub fn hooks_of(spec: &Spec, kind: HookKind) -> Vec<Hook> {
    list_of(spec.hooks().as_ref(), kind)
}

/// Whether `hooks` has at least one hook of `kind`.
pub fn has(hooks: Option<&Hooks>, kind: HookKind) -> bool {
    hooks
        .and_then(|h| kind.list(h).as_ref())
        .is_some_and(|l| !l.is_empty())
}

fn list_of(hooks: Option<&Hooks>, kind: HookKind) -> Vec<Hook> {
    hooks.and_then(|h| kind.list(h).clone()).unwrap_or_default()
}

/// The state document hooks read on stdin.
pub fn state_json(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &std::path::Path,
    annotations: &std::collections::HashMap<String, String>,
) -> Vec<u8> {
    let v = serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": annotations,
    });
    serde_json::to_vec(&v).unwrap_or_default()
}

/// The runtime hooks of creating a container (create, and restore once
/// CRIU has made the namespaces): prestart, which comes from runtime-spec
/// 1.0 where it ran once the container was created, so it sees "created";
/// then createRuntime, part of creating. `state` makes the state for a
/// status. The first failure stops the rest and is returned.
pub fn run_runtime_hooks(
    hooks: Option<&Hooks>,
    state: impl Fn(&str) -> Vec<u8>,
) -> Result<(), ChildError> {
    run(hooks, HookKind::Prestart, &state("created"))?;
    run(hooks, HookKind::CreateRuntime, &state("creating"))
}

/// Whether `hooks` has any of [`run_runtime_hooks`]'s.
pub fn has_runtime_hooks(hooks: Option<&Hooks>) -> bool {
    has(hooks, HookKind::Prestart) || has(hooks, HookKind::CreateRuntime)
}

/// Runs every hook of `kind`, in order; the first failure stops the rest
/// and is returned.
pub fn run_hooks(spec: &Spec, kind: HookKind, state: &[u8]) -> Result<(), ChildError> {
    run(spec.hooks().as_ref(), kind, state)
}

/// Like [`run_hooks`] for hooks kept apart from a spec (in the state).
pub fn run(hooks: Option<&Hooks>, kind: HookKind, state: &[u8]) -> Result<(), ChildError> {
    for (i, hook) in list_of(hooks, kind).iter().enumerate() {
        run_hook(hook, state).map_err(|message| ChildError {
            step: format!("hooks.{}[{i}] {}", kind.field(), hook.path().display()),
            message,
            errno: None,
        })?;
    }
    Ok(())
}

/// Runs every hook of `kind` even when some fail (poststart and poststop:
/// the spec wants a warning per failure and the rest to run); returns the
/// failures.
pub fn run_all(hooks: Option<&Hooks>, kind: HookKind, state: &[u8]) -> Vec<ChildError> {
    list_of(hooks, kind)
        .iter()
        .enumerate()
        .filter_map(|(i, hook)| {
            run_hook(hook, state).err().map(|message| ChildError {
                step: format!("hooks.{}[{i}] {}", kind.field(), hook.path().display()),
                message,
                errno: None,
            })
        })
        .collect()
}

fn run_hook(hook: &Hook, state: &[u8]) -> Result<(), String> {
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    cmd.env_clear();
    for var in hook.env().iter().flatten() {
        if let Some((k, v)) = var.split_once('=') {
            cmd.env(k, v);
        }
    }
    // Its own process group, so a timeout ends everything the hook started.
    cmd.process_group(0);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("start: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine.
        let _ = stdin.write_all(state);
    }
    let timeout = hook
        .timeout()
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(format!("wait: {e}")),
        }
        if let Some(t) = timeout {
            if start.elapsed() >= t {
                crate::sys::kill_group(child.id() as libc::pid_t, libc::SIGKILL);
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {}s", t.as_secs()));
            }
        }
        std::thread::sleep(Duration::from_millis(
            (start.elapsed().as_millis() as u64 / 4).clamp(1, 20),
        ));
    };
    if status.success() {
        return Ok(());
    }
    let mut output = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut output);
    }
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut output);
    }
    let output = output.trim();
    Err(if output.is_empty() {
        format!("{status}")
    } else {
        format!("{status}: {output}")
    })
}
