//! IPv6 addresses, full, compressed (`::`) or with an IPv4 tail. The candidate pattern is loose
//! (hex and colons); the standard library's parser decides. Loopback and `::` are left alone;
//! 2001:db8::/32 (documentation) is where esr's pseudonyms live.

use std::net::Ipv6Addr;
use std::ops::Range;

use super::{Detector, Rule};

pub(super) fn rules() -> Vec<Rule> {
    vec![Rule {
        detector: Detector::Ipv6,
        pattern: r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.[0-9]{1,3}){0,3}",
        validate,
    }]
}

fn validate(text: &str, span: Range<usize>) -> Option<Range<usize>> {
    let prev = super::before(text, span.start);
    if prev.is_some_and(|c| c.is_ascii_alphanumeric() || c == ':' || c == '.') {
        return None;
    }
    // A trailing `:` or `:port`-like group may belong to the text; try shorter ends.
    let v = &text[span.clone()];
    let mut end = v.len();
    loop {
        let cand = &v[..end];
        let next = super::after(text, span.start + end);
        if !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
            && cand.bytes().filter(|&b| b == b':').count() >= 2
            && let Ok(ip) = cand.parse::<Ipv6Addr>()
        {
            let ok = !ip.is_loopback() && !ip.is_unspecified() && !is_pseudonym(cand);
            return ok.then_some(span.start..span.start + end);
        }
        match cand.rfind(':') {
            Some(i) if i > 0 => end = i,
            _ => return None,
        }
    }
}

/// esr's IPv6 pseudonyms sit in 2001:db8::/32, reserved for documentation.
pub(super) fn is_pseudonym(v: &str) -> bool {
    v.parse::<Ipv6Addr>().is_ok_and(|ip| {
        let s = ip.segments();
        s[0] == 0x2001 && s[1] == 0x0db8
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn fixture() {
        super::super::check_fixture(
            super::Detector::Ipv6,
            include_str!("../../../fixtures/scrub/ipv6.txt"),
        );
    }
}
