//! Man pages (docs/man/*.8) rendered from the command line's own
//! definition, so they list exactly the flags berth accepts. A test checks
//! that the committed pages are current; `make man` rewrites them.

use clap::{Arg, ArgAction, Command};

/// Escapes text for roff: backslashes, and hyphens (so they are not turned
/// into typographic dashes).
fn esc(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

/// Help text as roff paragraphs; a line starting with a dot or a quote
/// would be read as a request.
fn paragraphs(text: &str) -> String {
    text.split("\n\n")
        .map(|p| {
            p.trim()
                .lines()
                .map(|line| {
                    let line = esc(line.trim());
                    if line.starts_with('.') || line.starts_with('\'') {
                        format!("\\&{line}")
                    } else {
                        line
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect::<Vec<_>>()
        .join("\n.PP\n")
}

/// A help text ends as a sentence, so that what is appended reads on.
fn sentence(mut text: String) -> String {
    if !text.is_empty() && !text.ends_with(['.', '!', '?', ':']) {
        text.push('.');
    }
    text
}

fn takes_value(arg: &Arg) -> bool {
    matches!(arg.get_action(), ArgAction::Set | ArgAction::Append)
}

fn value_name(arg: &Arg) -> String {
    arg.get_value_names()
        .and_then(|v| v.first())
        .map(|n| n.to_string())
        .unwrap_or_else(|| arg.get_id().as_str().to_uppercase())
}

/// One option as a tagged paragraph: its spellings, its value, its help,
/// its default and possible values.
fn option(arg: &Arg) -> String {
    let mut names = Vec::new();
    if let Some(s) = arg.get_short() {
        names.push(format!("\\fB\\-{}\\fR", esc(&s.to_string())));
    }
    if let Some(l) = arg.get_long() {
        names.push(format!("\\fB\\-\\-{}\\fR", esc(l)));
    }
    let mut tag = names.join(", ");
    if takes_value(arg) {
        tag.push_str(&format!(" \\fI{}\\fR", esc(&value_name(arg))));
    }
    let mut body = sentence(
        arg.get_long_help()
            .or(arg.get_help())
            .map(|h| paragraphs(&h.to_string()))
            .unwrap_or_default(),
    );
    let choices: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("\\fB{}\\fR", esc(v.get_name())))
        .collect();
    if takes_value(arg) && !choices.is_empty() {
        body.push_str(&format!(" [possible values: {}]", choices.join(", ")));
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    if takes_value(arg) && !defaults.is_empty() {
        body.push_str(&format!(
            " [default: \\fB{}\\fR]",
            esc(&defaults.join(", "))
        ));
    }
    format!(".TP\n{tag}\n{}\n", body.trim())
}

/// A subcommand's own flags: not the global ones (berth.8 has them), not
/// --help and --version (every command has them).
fn is_option(arg: &Arg) -> bool {
    !arg.is_positional()
        && !arg.is_hide_set()
        && !arg.is_global_set()
        && !matches!(arg.get_id().as_str(), "help" | "version")
}

fn header(name: &str, about: &str) -> String {
    let version = env!("CARGO_PKG_VERSION");
    format!(
        ".TH {} 8 \"\" \"berth {version}\" \"berth manual\"\n.SH NAME\n{} \\- {}\n",
        esc(&name.to_uppercase()),
        esc(name),
        esc(about)
    )
}

fn about(cmd: &Command) -> String {
    cmd.get_about().map(|a| a.to_string()).unwrap_or_default()
}

/// berth.8: the global options and the list of commands.
fn main_page(cmd: &Command) -> String {
    let summary = about(cmd);
    let mut page = header("berth", summary.trim_start_matches("berth: "));
    page.push_str(
        ".SH SYNOPSIS\n.B berth\n[\\fIGLOBAL OPTIONS\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGS\\fR]\n",
    );
    page.push_str(concat!(
        ".SH DESCRIPTION\n",
        "berth creates and runs containers from OCI bundles (a directory holding ",
        "config.json and a root filesystem), with runc's command line, flags, exit ",
        "codes and JSON log format, so that containerd, Docker, Podman or CRI\\-O can ",
        "call it in runc's place.\n",
        ".SH GLOBAL OPTIONS\n",
    ));
    let global = |a: &&Arg| a.is_global_set() && !a.is_hide_set();
    for arg in cmd.get_arguments().filter(global) {
        page.push_str(&option(arg));
    }
    page.push_str(".SH COMMANDS\n");
    for sub in visible_subcommands(cmd) {
        page.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{} See \\fBberth\\-{}\\fR(8).\n",
            esc(sub.get_name()),
            sentence(paragraphs(&about(sub))),
            esc(sub.get_name())
        ));
    }
    page.push_str(concat!(
        ".SH EXIT STATUS\n",
        "0 on success; 1 for an error of berth's, reported on one line ",
        "(\\fBberth: \\fR\\fIwhat\\fR\\fB: \\fR\\fIwhy\\fR), config errors naming the JSON path ",
        "of the field. \\fBrun\\fR and a foreground \\fBexec\\fR exit with the container ",
        "process's code, or 128+\\fIN\\fR when signal \\fIN\\fR killed it.\n",
        ".SH FILES\n",
        ".TP\n\\fI/run/berth\\fR\n",
        "State of root's containers (\\fB\\-\\-root\\fR); ",
        "\\fI$XDG_RUNTIME_DIR/berth\\fR for other users.\n",
        ".SH SEE ALSO\n",
    ));
    let refs: Vec<String> = visible_subcommands(cmd)
        .map(|s| format!("\\fBberth\\-{}\\fR(8)", esc(s.get_name())))
        .collect();
    page.push_str(&format!("{}\n", refs.join(", ")));
    page
}

/// berth-COMMAND.8.
fn command_page(cmd: &Command) -> String {
    let name = cmd.get_name();
    let mut page = header(&format!("berth-{name}"), &about(cmd));
    let mut synopsis = format!(
        ".SH SYNOPSIS\n.B berth\n[\\fIGLOBAL OPTIONS\\fR] \\fB{}\\fR",
        esc(name)
    );
    if cmd.get_arguments().any(is_option) {
        synopsis.push_str(" [\\fIOPTIONS\\fR]");
    }
    for arg in cmd.get_positionals().filter(|a| !a.is_hide_set()) {
        let value = esc(&value_name(arg));
        let many = matches!(arg.get_action(), ArgAction::Append)
            || arg.get_num_args().is_some_and(|n| n.max_values() > 1);
        let shown = if many { format!("{value}...") } else { value };
        if arg.is_required_set() {
            synopsis.push_str(&format!(" \\fI{shown}\\fR"));
        } else {
            synopsis.push_str(&format!(" [\\fI{shown}\\fR]"));
        }
    }
    page.push_str(&synopsis);
    page.push('\n');
    if let Some(long) = cmd.get_long_about() {
        // The first paragraph is the NAME line's summary already.
        let long = long.to_string();
        let rest = long.strip_prefix(&about(cmd)).unwrap_or(&long).trim();
        page.push_str(&format!(".SH DESCRIPTION\n{}\n", paragraphs(rest)));
    }
    let positionals: Vec<&Arg> = cmd.get_positionals().filter(|a| !a.is_hide_set()).collect();
    if !positionals.is_empty() {
        page.push_str(".SH ARGUMENTS\n");
        for arg in positionals {
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            page.push_str(&format!(
                ".TP\n\\fI{}\\fR\n{}\n",
                esc(&value_name(arg)),
                sentence(paragraphs(&help))
            ));
        }
    }
    let options: Vec<&Arg> = cmd.get_arguments().filter(|a| is_option(a)).collect();
    if !options.is_empty() {
        page.push_str(".SH OPTIONS\n");
        for arg in options {
            page.push_str(&option(arg));
        }
    }
    page.push_str(concat!(
        ".SH SEE ALSO\n",
        "\\fBberth\\fR(8) for the global options, the exit status and the files.\n",
    ));
    page
}

fn visible_subcommands(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set())
}

/// Every page: (file name, roff text).
pub fn pages(cmd: &mut Command) -> Vec<(String, String)> {
    cmd.build();
    let mut out = vec![("berth.8".to_string(), main_page(cmd))];
    for sub in visible_subcommands(cmd) {
        out.push((format!("berth-{}.8", sub.get_name()), command_page(sub)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::path::PathBuf;

    fn man_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/man")
    }

    /// docs/man matches the command line; with BERTH_WRITE_MAN=1 (make man)
    /// the pages are rewritten instead.
    #[test]
    fn man_pages_are_current() {
        let pages = pages(&mut crate::Cli::command());
        let dir = man_dir();
        if std::env::var_os("BERTH_WRITE_MAN").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "8") {
                    std::fs::remove_file(path).unwrap();
                }
            }
            for (name, text) in &pages {
                std::fs::write(dir.join(name), text).unwrap();
            }
            return;
        }
        let mut stale = Vec::new();
        for (name, text) in &pages {
            if std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(text.as_str()) {
                stale.push(name.clone());
            }
        }
        let on_disk = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(|e| e.ok()).count())
            .unwrap_or(0);
        assert!(
            stale.is_empty() && on_disk == pages.len(),
            "docs/man is out of date ({} pages on disk, {} expected; differing: {stale:?}): run `make man`",
            on_disk,
            pages.len()
        );
    }

    #[test]
    fn every_flag_of_create_is_on_its_page() {
        let pages = pages(&mut crate::Cli::command());
        let create = &pages
            .iter()
            .find(|(n, _)| n == "berth-create.8")
            .expect("a create page")
            .1;
        for flag in [
            "bundle",
            "console\\-socket",
            "pid\\-file",
            "no\\-pivot",
            "no\\-new\\-keyring",
            "preserve\\-fds",
            "pidfd\\-socket",
        ] {
            assert!(
                create.contains(&format!("\\-\\-{flag}")),
                "--{flag} missing"
            );
        }
        assert!(create.contains(".SH ARGUMENTS\n.TP\n\\fIID\\fR\nContainer ID."));
        assert!(
            !create.contains("\\-\\-help"),
            "--help is not a flag of create's own"
        );
    }
}
