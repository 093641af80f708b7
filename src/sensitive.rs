//! A wrapper for values that may hold personal data or secrets.
//!
//! Anything read from a user's log is potentially personal data. Wrapping it in
//! [`Sensitive`] makes `Debug` and `Display` print `[redacted]`, so a stray `{:?}` in a log
//! line, an error or a panic message cannot leak it.

use std::fmt;

/// A value that must never be printed. Access the inner value explicitly with
/// [`Sensitive::expose`].
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Sensitive(value)
    }

    /// Borrows the inner value. Callers take responsibility for not printing it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the inner value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Sensitive::new("jane@example.com".to_string());
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(s.expose(), "jane@example.com");
    }
}
