//! W3C trace context in Kafka headers: the gateway's span continues in every
//! consumer that reads the record.

use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Collects injected fields in order; a propagator sets each key once.
struct HeaderList(Vec<(String, String)>);

impl Injector for HeaderList {
    fn set(&mut self, key: &str, value: String) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some((_, existing)) => *existing = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }
}

struct HeaderSlice<'a>(&'a [(String, Vec<u8>)]);

impl Extractor for HeaderSlice<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// `traceparent` (and `tracestate`, baggage) of the current tracing span,
/// ready to be added to a Kafka record.
pub fn current_trace_headers() -> Vec<(String, String)> {
    inject(&tracing::Span::current().context())
}

pub fn inject(context: &Context) -> Vec<(String, String)> {
    let mut headers = HeaderList(Vec::with_capacity(2));
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(context, &mut headers));
    headers.0
}

/// The remote parent carried by a record's headers (an empty context when absent).
pub fn extract(headers: &[(String, Vec<u8>)]) -> Context {
    opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderSlice(headers)))
}

/// The trace id in a context as 32 hex digits, `None` when there is no valid trace.
pub fn trace_id(context: &Context) -> Option<String> {
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| span_context.trace_id().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry_sdk::propagation::TraceContextPropagator;

    #[test]
    fn trace_context_survives_a_round_trip_through_headers() {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex");
        let remote =
            SpanContext::new(trace, SpanId::from_hex("00f067aa0ba902b7").expect("hex"), TraceFlags::SAMPLED, true, TraceState::default());
        let context = Context::new().with_remote_span_context(remote);

        let headers: Vec<(String, Vec<u8>)> = inject(&context).into_iter().map(|(k, v)| (k, v.into_bytes())).collect();
        assert!(headers.iter().any(|(k, _)| k == "traceparent"));
        assert_eq!(trace_id(&extract(&headers)).as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    }

    #[test]
    fn missing_headers_give_no_trace() {
        assert_eq!(trace_id(&extract(&[])), None);
    }
}
