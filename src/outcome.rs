//! What happened to one replayed request: the type the replay engine hands to the tap.

/// Why a request got no HTTP response. `status` is 0 whenever one of these is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The connection could not be opened (refused, unreachable).
    Connect,
    /// No complete answer within `--timeout`.
    Timeout,
    /// The connection was closed or reset before a full response.
    Reset,
    /// The response body could not be read.
    Body,
    /// The request could not be built or sent for another reason.
    Other,
}

impl ErrorKind {
    /// Every kind, in a stable order (used for counters and reports).
    pub const ALL: [ErrorKind; 5] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Reset,
        ErrorKind::Body,
        ErrorKind::Other,
    ];

    /// The stable lower-case name used in files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Body => "body",
            ErrorKind::Other => "other",
        }
    }

    /// Parses a name written by [`ErrorKind::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One replayed request. Times are microseconds since the run's start instant.
#[derive(Clone, PartialEq)]
pub struct Outcome {
    /// Position of the request in the schedule (0-based, counting loops).
    pub seq: u64,
    /// The request's session key (already a pseudonym in a scrubbed trace).
    pub session: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Path and query as sent.
    pub path: String,
    /// Endpoint template ([`crate::trace::fold_path`]).
    pub endpoint: String,
    /// When the schedule said the request was due.
    pub due_us: i64,
    /// When it was actually sent.
    pub sent_us: i64,
    /// When the response was complete, or the error was seen.
    pub done_us: i64,
    /// HTTP status, 0 on a transport error.
    pub status: u16,
    /// Transport error, if any.
    pub error: Option<ErrorKind>,
    /// Response body bytes received.
    pub bytes: u64,
    /// SHA-256 of the response body, when one was read.
    pub body_sha256: Option<[u8; 32]>,
    /// The request waited for a free `--concurrency` slot.
    pub queued: bool,
    /// The request waited for the `--max-rps` governor.
    pub throttled: bool,
}

impl Outcome {
    /// Latency measured from the due time (free of coordinated omission).
    pub fn latency_us(&self) -> i64 {
        (self.done_us - self.due_us).max(0)
    }

    /// Service time: from the actual send to completion.
    pub fn service_us(&self) -> i64 {
        (self.done_us - self.sent_us).max(0)
    }

    /// Schedule lateness: how long after its due time the request was sent.
    pub fn lateness_us(&self) -> i64 {
        (self.sent_us - self.due_us).max(0)
    }

    /// A response arrived with a status below 400.
    pub fn is_success(&self) -> bool {
        self.error.is_none() && (100..400).contains(&self.status)
    }
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The session and path may hold personal data of an unscrubbed trace.
        f.debug_struct("Outcome")
            .field("seq", &self.seq)
            .field("method", &self.method)
            .field("endpoint", &self.endpoint)
            .field("due_us", &self.due_us)
            .field("sent_us", &self.sent_us)
            .field("done_us", &self.done_us)
            .field("status", &self.status)
            .field("error", &self.error)
            .finish()
    }
}
