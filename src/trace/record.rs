//! One request of a trace, as plain owned values.

/// One request of a trace. Field meanings follow the canonical schema (`DESIGN.md`).
///
/// `Debug` is written by hand and prints only the method, the time and the shape of the other
/// fields, because every field but `ts_us` and `method` may hold personal data.
#[derive(Clone, Default, PartialEq)]
pub struct TraceRecord {
    /// Arrival time, microseconds since the Unix epoch, UTC.
    pub ts_us: i64,
    /// HTTP method, upper case.
    pub method: String,
    /// Path and query in origin form (`/a/b?x=1`).
    pub path: String,
    /// Original host, if recorded.
    pub host: Option<String>,
    /// Request headers as a JSON object (text).
    pub headers: Option<String>,
    /// Request body.
    pub body: Option<Vec<u8>>,
    /// Response status recorded in production.
    pub status: Option<u16>,
    /// Latency recorded in production, milliseconds.
    pub latency_ms: Option<f64>,
    /// Actor or session key.
    pub session: Option<String>,
    /// Values of the extra columns, in the order of the trace's extra column names.
    pub extra: Vec<Option<String>>,
}

impl std::fmt::Debug for TraceRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceRecord")
            .field("ts_us", &self.ts_us)
            .field("method", &self.method)
            .field("path_len", &self.path.len())
            .field("has_host", &self.host.is_some())
            .field("has_headers", &self.headers.is_some())
            .field("body_len", &self.body.as_ref().map(Vec::len))
            .field("status", &self.status)
            .field("has_session", &self.session.is_some())
            .field("extra_columns", &self.extra.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_values() {
        let r = TraceRecord {
            ts_us: 1,
            method: "POST".into(),
            path: "/users/jane@example.com".into(),
            session: Some("jane".into()),
            extra: vec![Some("10.1.2.3".into())],
            ..Default::default()
        };
        let text = format!("{r:?}");
        assert!(!text.contains("jane"), "{text}");
        assert!(!text.contains("10.1.2.3"), "{text}");
    }
}
