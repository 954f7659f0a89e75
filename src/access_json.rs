//! The access event as one JSON line, written field by field straight into a reused buffer.
//! It is the one line logged per request, and tracing-subscriber's JSON formatter first builds a
//! map holding an allocated value per field. Same shape as the other JSON lines: timestamp,
//! level, the fields at the top level, target.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};

/// The target of the access events.
pub const TARGET: &str = "access";

/// Writes events of target [`TARGET`] as JSON lines to `writer`; give it only those events
/// (a per-layer filter), and keep them from the general formatter.
pub struct AccessJson<W> {
    writer: W,
}

impl<W> AccessJson<W> {
    pub fn new(writer: W) -> Self {
        Self { writer }
    }
}

thread_local! {
    /// The line being written, and room for formatting a `%value` field before escaping it.
    static BUFFERS: RefCell<(Vec<u8>, String)> = const { RefCell::new((Vec::new(), String::new())) };
}

impl<S, W> Layer<S> for AccessJson<W>
where
    S: Subscriber,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        BUFFERS.with_borrow_mut(|(line, scratch)| {
            line.clear();
            let _ = write!(
                line,
                "{{\"timestamp\":\"{}\",\"level\":\"{}\"",
                humantime::format_rfc3339_micros(SystemTime::now()),
                event.metadata().level()
            );
            event.record(&mut JsonFields { line, scratch });
            let _ = writeln!(line, ",\"target\":\"{}\"}}", event.metadata().target());
            let _ = self.writer.make_writer().write_all(line);
        });
    }
}

/// Appends `,"name":value` for each field, escaped by serde_json.
struct JsonFields<'a> {
    line: &'a mut Vec<u8>,
    scratch: &'a mut String,
}

impl JsonFields<'_> {
    fn field(&mut self, field: &Field, value: &impl serde::Serialize) {
        let name = field.name();
        // Field names are nearly always plain identifiers, which need no escaping.
        if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            self.line.extend_from_slice(b",\"");
            self.line.extend_from_slice(name.as_bytes());
            self.line.extend_from_slice(b"\":");
        } else {
            self.line.push(b',');
            let _ = serde_json::to_writer(&mut *self.line, name);
            self.line.push(b':');
        }
        let _ = serde_json::to_writer(&mut *self.line, value);
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, &value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, &value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, &value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.field(field, &value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, &value);
    }

    /// `%value` and `?value` fields: formatted, then written as a JSON string.
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut scratch = std::mem::take(self.scratch);
        scratch.clear();
        let _ = write!(scratch, "{value:?}");
        self.field(field, &scratch.as_str());
        *self.scratch = scratch;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Collects what the layer writes.
    #[derive(Clone, Default)]
    struct Written(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Written {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn line_of(log: impl FnOnce()) -> serde_json::Value {
        let written = Written::default();
        let writer = written.clone();
        let subscriber = tracing_subscriber::registry().with(AccessJson::new(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, log);
        let bytes = written.0.lock().expect("lock").clone();
        let text = String::from_utf8(bytes).expect("utf-8");
        assert_eq!(text.matches('\n').count(), 1, "one line: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }

    #[test]
    fn fields_of_every_kind_are_escaped_and_absent_options_left_out() {
        let tricky = "quote \" backslash \\ newline \n tab \t bell \u{7}";
        let line = line_of(|| {
            tracing::info!(
                target: TARGET,
                text = tricky,
                shown = %format_args!("{tricky}"),
                count = 7_u64,
                delta = -3_i64,
                ms = 1.25_f64,
                done = true,
                missing = Option::<u16>::None,
                "odd \"name\"" = 1_u64,
            )
        });
        assert_eq!(line["text"], tricky);
        assert_eq!(line["shown"], tricky);
        assert_eq!(line["count"], 7);
        assert_eq!(line["delta"], -3);
        assert_eq!(line["ms"], 1.25);
        assert_eq!(line["done"], true);
        assert!(line.get("missing").is_none(), "{line}");
        assert_eq!(line["odd \"name\""], 1);
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["target"], TARGET);
        let timestamp = line["timestamp"].as_str().expect("timestamp");
        humantime::parse_rfc3339(timestamp).expect("an RFC 3339 timestamp");
    }
}
