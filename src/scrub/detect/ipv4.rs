//! IPv4 addresses in dotted-quad form. Loopback (127/8) and 0.0.0.0 name no one and are left
//! alone; 240.0.0.0/4 is where esr's pseudonyms live.

use std::net::Ipv4Addr;
use std::ops::Range;

use super::{Detector, Rule};

pub(super) fn rules() -> Vec<Rule> {
    vec![Rule {
        detector: Detector::Ipv4,
        pattern: r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}",
        validate,
    }]
}

fn validate(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let v = &text[span.clone()];
    let prev = super::before(text, span.start);
    // `v1.2.3.4`, `1.2.3.4.5` and `x1.2.3.4` are versions or longer dotted numbers.
    if super::alnum(prev) || prev == Some('.') || super::digit(super::after(text, span.end)) {
        return None;
    }
    if super::digit(super::after_sep(text, span.end, |c| c == '.')) {
        return None;
    }
    // `Ipv4Addr` rejects octets above 255 and leading zeros.
    let ip: Ipv4Addr = v.parse().ok()?;
    (!ip.is_loopback() && !ip.is_unspecified() && !is_pseudonym(v)).then_some(span)
}

/// esr's IPv4 pseudonyms sit in 240.0.0.0/4, reserved and never routed.
pub(super) fn is_pseudonym(v: &str) -> bool {
    v.parse::<Ipv4Addr>().is_ok_and(|ip| ip.octets()[0] >= 240)
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixture() {
        super::super::check_fixture(
            super::Detector::Ipv4,
            include_str!("../../../fixtures/scrub/ipv4.txt"),
        );
    }
}
