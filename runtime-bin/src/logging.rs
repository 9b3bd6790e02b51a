//! Logging set up from --log, --log-format and --debug. The JSON format is
//! runc's: one object per line with "level", "msg" and "time".

use std::fmt::Write as _;
use std::path::Path;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::LogFormat;

/// Installs the global subscriber.
pub fn init(log: Option<&Path>, format: LogFormat, debug: bool) -> Result<(), String> {
    let level = if debug { Level::DEBUG } else { Level::INFO };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false);
    let result = match (log, format) {
        (Some(path), f) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("--log {}: {e}", path.display()))?;
            let writer = std::sync::Mutex::new(file);
            if f == LogFormat::Json {
                builder
                    .event_format(RuncJson)
                    .with_writer(writer)
                    .try_init()
            } else {
                builder.with_writer(writer).try_init()
            }
        }
        (None, LogFormat::Json) => builder
            .event_format(RuncJson)
            .with_writer(std::io::stderr)
            .try_init(),
        (None, LogFormat::Text) => builder.with_writer(std::io::stderr).try_init(),
    };
    result.map_err(|e| e.to_string())
}

/// Formats events as runc's JSON log lines.
struct RuncJson;

#[derive(Default)]
struct Message {
    msg: String,
    extra: String,
}

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.msg, "{value:?}");
        } else {
            let _ = write!(self.extra, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg.push_str(value);
        } else {
            let _ = write!(self.extra, " {}={value}", field.name());
        }
    }
}

impl<S, N> FormatEvent<S, N> for RuncJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut m = Message::default();
        event.record(&mut m);
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            Level::DEBUG => "debug",
            Level::TRACE => "trace",
        };
        let line = serde_json::json!({
            "level": level,
            "msg": format!("{}{}", m.msg, m.extra),
            "time": berth::state::rfc3339(std::time::SystemTime::now()),
        });
        writeln!(writer, "{line}")
    }
}
