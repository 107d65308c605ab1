//! Where log lines go and at which level. actix-http reports a client's
//! malformed or broken request (a bad head, a dropped connection, a body
//! cut short) at ERROR: anyone on the network could fill the error log.
//! Those lines are written at INFO instead, with their text, under the
//! target `greenlight::http::client`; ERROR stays for our own failures.

use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Logs on standard error, as text or JSON lines, filtered by `filter` (a
/// `RUST_LOG` directive).
pub fn init(json: bool, filter: EnvFilter) {
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines = if json {
        lines
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .boxed()
    } else {
        lines.boxed()
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(lines.with_filter(filter_fn(|meta| !from_a_client(meta))))
        .with(Demote)
        .init();
}

/// An ERROR of actix-http's HTTP/1 connection handling: about what a
/// client sent or did, not a failure of ours.
fn from_a_client(meta: &Metadata<'_>) -> bool {
    *meta.level() == Level::ERROR && meta.target().starts_with("actix_http::h1")
}

/// Writes a client's error again, at INFO (after the line writer, which
/// skipped it).
struct Demote;

impl<S: Subscriber> Layer<S> for Demote {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if from_a_client(event.metadata()) {
            let mut message = Message(String::new());
            event.record(&mut message);
            tracing::info!(target: "greenlight::http::client", error = %message.0, "a client's request could not be served");
        }
    }
}

struct Message(String);

impl tracing::field::Visit for Message {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if !self.0.is_empty() {
            self.0.push_str(", ");
        }
        if field.name() != "message" {
            let _ = write!(self.0, "{}=", field.name());
        }
        let _ = write!(self.0, "{value:?}");
    }
}
