//! Keyed, shape-preserving pseudonyms.
//!
//! Every pseudonym is derived from HMAC-SHA256(key, entity type ‖ 0 ‖ normalized value): the
//! entity type separates domains (an SSN and a phone number with the same digits do not share
//! a pseudonym), the key makes enumeration useless without it. The same value under the same
//! key always gives the same pseudonym, in every column and file; under another key nothing
//! links. Shapes survive so requests still replay: an email stays an email (under
//! `.invalid`), an IP stays an IP (240.0.0.0/4, 2001:db8::/32), digits stay digits of the same
//! length and layout. Pseudonyms are built so the detectors never take them for real values
//! (see `detect`).

use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::automaton;
use super::detect::{self, Detector, Hit, JWT_MARKER_HEADER, TOKEN_PREFIX, luhn_valid};
use super::key::ScrubKey;
use super::memo::Memo;

/// What a value is, for domain separation and for the shape of its pseudonym.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entity {
    Detected(Detector),
    EmailDomain,
    Digits,
    Text,
}

impl Entity {
    fn tag(self) -> &'static [u8] {
        match self {
            Entity::Detected(d) => d.name().as_bytes(),
            Entity::EmailDomain => b"email-domain",
            Entity::Digits => b"digits",
            Entity::Text => b"text",
        }
    }

    fn all() -> impl Iterator<Item = Entity> {
        Detector::ALL.into_iter().map(Entity::Detected).chain([
            Entity::EmailDomain,
            Entity::Digits,
            Entity::Text,
        ])
    }

    fn slot(self) -> usize {
        match self {
            Entity::Detected(d) => d as usize,
            Entity::EmailDomain => Detector::ALL.len(),
            Entity::Digits => Detector::ALL.len() + 1,
            Entity::Text => Detector::ALL.len() + 2,
        }
    }
}

const SLOTS: usize = Detector::ALL.len() + 3;
/// Memo slot of whole values (their shape already decided), after the entity slots.
const WHOLE_SLOT: usize = SLOTS;

/// Makes pseudonyms under one key, remembering the pseudonyms of recent values.
pub struct Pseudonymizer {
    /// Per entity slot: the keyed HMAC state already fed with `tag ‖ 0`, so a digest is a
    /// clone, the value, the counter and the finalization.
    macs: Vec<Hmac<Sha256>>,
    key_id: String,
    /// Per entity slot, then whole values ([`WHOLE_SLOT`]); scrubbing lanes each hold their
    /// own, so the memos' bounds (see [`Memo`]) bound RSS per lane.
    memo: Vec<Memo>,
    /// foldhash, because SipHash of every looked-up value showed in profiles.
    hasher: foldhash::fast::RandomState,
    /// Reused buffers for pseudonyms being made, one per nesting level of [`Self::memoized`]
    /// (a whole value's, a detected value's within it, an email domain's within that).
    bufs: [String; 3],
    /// A lower-cased email.
    lower: String,
    hits: Vec<Hit>,
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pseudonymizer(key {})", self.key_id)
    }
}

impl Pseudonymizer {
    /// A pseudonymizer under `key`.
    pub fn new(key: &ScrubKey) -> Pseudonymizer {
        Pseudonymizer::with_raw_key(key.expose(), key.id())
    }

    /// A pseudonymizer under raw key bytes (the reversal self-test uses the empty key to play
    /// a tool that forgot the key).
    pub(crate) fn with_raw_key(key: &[u8], key_id: String) -> Pseudonymizer {
        let mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
        let mut macs = vec![mac; SLOTS];
        for e in Entity::all() {
            let m = &mut macs[e.slot()];
            m.update(e.tag());
            m.update(&[0]);
        }
        Pseudonymizer::with_macs(macs, key_id)
    }

    fn with_macs(macs: Vec<Hmac<Sha256>>, key_id: String) -> Pseudonymizer {
        Pseudonymizer {
            macs,
            key_id,
            memo: (0..=SLOTS).map(|_| Memo::default()).collect(),
            hasher: foldhash::fast::RandomState::default(),
            bufs: Default::default(),
            lower: String::new(),
            hits: Vec::new(),
        }
    }

    /// A pseudonymizer under the same key with empty memos, for another thread: the
    /// pseudonyms are the same (a keyed HMAC does not depend on who computes it).
    pub(crate) fn fork(&self) -> Pseudonymizer {
        Pseudonymizer::with_macs(self.macs.clone(), self.key_id.clone())
    }

    /// The id of the key in use.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    fn digest(&self, e: Entity, value: &[u8], counter: u8) -> [u8; 32] {
        let mut m = self.macs[e.slot()].clone();
        m.update(value);
        m.update(&[counter]);
        m.finalize().into_bytes().into()
    }

    /// `n` keyed decimal digits for `value` (rejection sampling keeps them uniform).
    fn digits(&self, e: Entity, value: &[u8], n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n);
        let mut counter = 0u8;
        while out.len() < n {
            for b in self.digest(e, value, counter) {
                if b < 250 && out.len() < n {
                    out.push(b'0' + b % 10);
                }
            }
            counter = counter.wrapping_add(1);
        }
        out
    }

    /// The pseudonym of `value` from memo `slot`, made by `make` into buffer `buf` when the
    /// memo does not hold it (and kept there when the memo has no room for it or rests).
    fn memoized(
        &mut self,
        slot: usize,
        buf: usize,
        value: &str,
        make: impl FnOnce(&mut Self, &mut String),
    ) -> &str {
        // A resting memo (one whose kind does not repeat) is neither asked nor filled.
        let h = (!self.memo[slot].resting()).then(|| self.hasher.hash_one(value));
        if let Some(h) = h
            && let Some(f) = self.memo[slot].get(h, value)
        {
            return self.memo[slot].value(f);
        }
        let mut out = std::mem::take(&mut self.bufs[buf]);
        out.clear();
        make(self, &mut out);
        let f = h.and_then(|h| self.memo[slot].insert(h, value, &out));
        self.bufs[buf] = out;
        match f {
            Some(f) => self.memo[slot].value(f),
            None => &self.bufs[buf],
        }
    }

    /// The pseudonym of `value`, a hit of detector `d`.
    pub fn detected(&mut self, d: Detector, value: &str) -> &str {
        let e = Entity::Detected(d);
        self.memoized(e.slot(), 1, value, |p, out| {
            p.make(d, value, out);
            finish(e, out);
        })
    }

    fn make(&mut self, d: Detector, value: &str, out: &mut String) {
        let e = Entity::Detected(d);
        match d {
            Detector::Email => self.email(value, out),
            Detector::Phone => {
                let first_zero = if value.starts_with('+') {
                    0
                } else {
                    let n = value.bytes().filter(u8::is_ascii_digit).count();
                    // `1 415 ...`: the area code is the second digit.
                    usize::from(n == 11 && value.trim_start_matches('(').starts_with('1'))
                };
                self.fill_digits(e, value, |i, _| (i == first_zero).then_some(b'0'), out);
            }
            // Area 9xx is never issued: the pseudonym is not an SSN.
            Detector::Ssn => self.fill_digits(e, value, |i, _| (i == 0).then_some(b'9'), out),
            Detector::Card => {
                let first = value.as_bytes()[0];
                let at = out.len();
                self.fill_digits(e, value, |i, _| (i == 0).then_some(first), out);
                if luhn_valid(&out[at..]) {
                    // Changing any one digit breaks Luhn: the pseudonym is never a card.
                    let last = at
                        + out[at..]
                            .rfind(|c: char| c.is_ascii_digit())
                            .expect("cards have digits");
                    let d = out.as_bytes()[last] - b'0';
                    out.replace_range(last..last + 1, &((d + 1) % 10).to_string());
                }
            }
            Detector::Iban => self.iban(value, out),
            Detector::Ipv4 => match value.parse() {
                Ok(ip) => push_ipv4(self.ipv4(ip), out),
                Err(_) => self.token(e, value, out),
            },
            Detector::Ipv6 => match value.parse() {
                Ok(ip) => push_display(self.ipv6(ip), out),
                Err(_) => self.token(e, value, out),
            },
            Detector::Jwt => self.jwt(value, out),
            Detector::Credential | Detector::Secret => self.token(e, value, out),
        }
    }

    /// Appends `value` with its digits replaced by keyed digits (of its digits alone, so
    /// formatting does not change the pseudonym); `force(i, digit)` may pin the i-th digit.
    fn fill_digits(
        &self,
        e: Entity,
        value: &str,
        force: impl Fn(usize, u8) -> Option<u8>,
        out: &mut String,
    ) {
        let norm: Vec<u8> = value.bytes().filter(u8::is_ascii_digit).collect();
        let keyed = self.digits(e, &norm, norm.len());
        let mut i = 0;
        for c in value.chars() {
            if c.is_ascii_digit() {
                let d = force(i, keyed[i]).unwrap_or(keyed[i]);
                i += 1;
                out.push(char::from(d));
            } else {
                out.push(c);
            }
        }
    }

    fn email(&mut self, value: &str, out: &mut String) {
        let mut lower = std::mem::take(&mut self.lower);
        lower.clear();
        lower.push_str(value);
        lower.make_ascii_lowercase();
        let domain = lower.rsplit_once('@').map_or("", |(_, d)| d);
        let local = self.digest(Entity::Detected(Detector::Email), lower.as_bytes(), 0);
        out.push('u');
        push_hex(&local[..5], out);
        out.push_str("@d");
        // Addresses are many, their domains few: the domain's part is remembered.
        out.push_str(
            self.memoized(Entity::EmailDomain.slot(), 2, domain, |p, hex| {
                let dom = p.digest(Entity::EmailDomain, domain.as_bytes(), 0);
                push_hex(&dom[..3], hex);
            }),
        );
        out.push_str(".invalid");
        self.lower = lower;
    }

    fn iban(&self, value: &str, out: &mut String) {
        let compact: Vec<u8> = value
            .bytes()
            .filter(|b| *b != b' ')
            .map(|b| b.to_ascii_uppercase())
            .collect();
        let h = self.digits(Entity::Detected(Detector::Iban), &compact, compact.len());
        let mut i = 0;
        out.extend(value.chars().map(|c| {
            if c == ' ' {
                return c;
            }
            let pos = i;
            i += 1;
            match pos {
                0 | 1 => c,
                // Check digits 00 are outside the issued range (02–98); as 00 ≡ 97 they
                // still pass mod-97 for one body in 97, which `not_detectable` breaks.
                2 | 3 => '0',
                _ if c.is_ascii_digit() => char::from(h[pos]),
                _ if c.is_ascii_lowercase() => char::from(b'a' + (h[pos] - b'0') * 2),
                _ => char::from(b'A' + (h[pos] - b'0') * 2),
            }
        }));
    }

    pub(crate) fn ipv4(&self, ip: Ipv4Addr) -> Ipv4Addr {
        let h = self.digest(Entity::Detected(Detector::Ipv4), &ip.octets(), 0);
        Ipv4Addr::new(0xf0 | (h[0] & 0x0f), h[1], h[2], h[3])
    }

    fn ipv6(&self, ip: Ipv6Addr) -> Ipv6Addr {
        let h = self.digest(Entity::Detected(Detector::Ipv6), &ip.octets(), 0);
        let mut seg = [0x2001u16, 0x0db8, 0, 0, 0, 0, 0, 0];
        for (i, s) in seg.iter_mut().enumerate().skip(2) {
            *s = u16::from_be_bytes([h[2 * i], h[2 * i + 1]]);
        }
        Ipv6Addr::from(seg)
    }

    fn jwt(&self, value: &str, out: &mut String) {
        let h = self.digest(Entity::Detected(Detector::Jwt), value.as_bytes(), 0);
        let payload = format!("{{\"sub\":\"{}\"}}", hex(&h[..8]));
        out.push_str(JWT_MARKER_HEADER);
        out.push('.');
        out.push_str(&base64url(payload.as_bytes()));
        out.push('.');
        push_hex(&h[8..16], out);
    }

    /// Appends the `esr_` token of `value`.
    fn token(&self, e: Entity, value: &str, out: &mut String) {
        let h = self.digest(e, value.as_bytes(), 0);
        // The hex starts with a letter: an all-digit token (1 in 1,800) could otherwise pass
        // for a card or phone number right after the `esr_` prefix.
        let mut hex = [0u8; 16];
        hex_into(&h[..8], &mut hex);
        hex[0] = b'a' + h[8] % 6;
        out.push_str(TOKEN_PREFIX);
        out.push_str(std::str::from_utf8(&hex).expect("hex is ASCII"));
    }

    /// The pseudonym of a whole value (a column or header the policy hashes), by its shape:
    /// an email, IP, card, phone... gets that kind's pseudonym, so it links with the same value
    /// found in free text; all digits stay digits of the same length; anything else becomes an
    /// `esr_` token. esr's own pseudonyms are kept as they are, so scrubbing twice is stable.
    pub fn whole(&mut self, value: &str) -> &str {
        if value.is_empty() {
            return "";
        }
        // Identifier columns repeat (sessions, addresses): skip the shape tests for them.
        self.memoized(WHOLE_SLOT, 0, value, |p, out| p.whole_uncached(value, out))
    }

    fn whole_uncached(&mut self, value: &str, out: &mut String) {
        if could_be_ip(value)
            && let Ok(ip) = value.parse::<IpAddr>()
        {
            match ip {
                IpAddr::V4(v4) if detect::is_pseudonym(Detector::Ipv4, value) => {
                    push_ipv4(v4, out);
                }
                IpAddr::V6(v6) if detect::is_pseudonym(Detector::Ipv6, value) => {
                    push_display(v6, out);
                }
                _ => {
                    let d = if ip.is_ipv4() {
                        Detector::Ipv4
                    } else {
                        Detector::Ipv6
                    };
                    out.push_str(self.detected(d, value));
                }
            }
            return;
        }
        if detect::is_token_pseudonym(value)
            || detect::is_pseudonym(Detector::Email, value)
            || detect::is_pseudonym(Detector::Jwt, value)
        {
            out.push_str(value);
            return;
        }
        let mut hits = std::mem::take(&mut self.hits);
        hits.clear();
        automaton::shared().scan(value, &mut hits);
        let whole_hit = match hits.as_slice() {
            [h] if h.start == 0 && h.end == value.len() => Some(h.detector),
            _ => None,
        };
        self.hits = hits;
        if let Some(d) = whole_hit {
            out.push_str(self.detected(d, value));
            return;
        }
        // Digits and other text are only ever hashed whole, so the whole-value memo is
        // theirs alone.
        let e = if value.bytes().all(|b| b.is_ascii_digit()) {
            self.fill_digits(Entity::Digits, value, |_, _| None, out);
            Entity::Digits
        } else {
            self.token(Entity::Text, value, out);
            Entity::Text
        };
        finish(e, out);
    }
}

/// True unless `value` holds a byte no IP address has (a cheap test before the parse).
fn could_be_ip(value: &str) -> bool {
    value.len() <= 45
        && value
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
}

/// Makes sure a fresh pseudonym `p` of entity `e` passes the detectors, whatever its kind:
/// keyed digits and hex can form a card number by chance (inside an `esr_` token, an IBAN, a
/// phone number). A card needs 12 digits and a numeric IBAN about as many, so most
/// pseudonyms skip the re-scan (it cost ingest with scrubbing a third of its time).
fn finish(e: Entity, p: &mut String) {
    if matches!(e, Entity::Detected(Detector::Iban))
        || p.bytes().filter(u8::is_ascii_digit).count() >= 12
    {
        *p = not_detectable(std::mem::take(p));
    }
}

/// Appends the dotted quad of `ip`, as its `Display` writes it.
fn push_ipv4(ip: Ipv4Addr, out: &mut String) {
    for (i, o) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if o >= 100 {
            out.push(char::from(b'0' + o / 100));
        }
        if o >= 10 {
            out.push(char::from(b'0' + o / 10 % 10));
        }
        out.push(char::from(b'0' + o % 10));
    }
}

fn push_display(v: impl std::fmt::Display, out: &mut String) {
    use std::fmt::Write;
    write!(out, "{v}").expect("writing to a String cannot fail");
}

/// Breaks any card number or IBAN that the keyed digits of a pseudonym happen to form (a run
/// of 12–19 digits passing Luhn one time in ten, inside an IBAN's or a phone number's digits or
/// the hex of an `esr_` token; IBAN check digits 00 passing mod-97 one time in 97), so that
/// `esr check` never takes esr's own output for personal data. Bumping a card span's last digit breaks its checksum; an
/// IBAN's check digits alternate between 00 and 01, of which at most one passes. The loop
/// re-scans because a change can complete another span.
fn not_detectable(mut p: String) -> String {
    for _ in 0..32 {
        let Some(hit) = detect::scan(&p).into_iter().next() else {
            return p;
        };
        let span = &p[hit.start..hit.end];
        let at = match hit.detector {
            // The fourth character of the IBAN (the second check digit).
            Detector::Iban => span
                .char_indices()
                .filter(|(_, c)| *c != ' ')
                .nth(3)
                .map(|(i, _)| hit.start + i),
            _ => span
                .rfind(|c: char| c.is_ascii_digit())
                .map(|i| hit.start + i),
        };
        let Some(at) = at else { return p };
        let d = p.as_bytes()[at].wrapping_sub(b'0');
        if d > 9 {
            return p;
        }
        let next = if hit.detector == Detector::Iban {
            d ^ 1
        } else {
            (d + 1) % 10
        };
        p.replace_range(at..at + 1, &next.to_string());
    }
    p
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes the lower-case hex of `bytes` into `out` (twice as long).
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (b, o) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        o[0] = HEX[usize::from(b >> 4)];
        o[1] = HEX[usize::from(b & 15)];
    }
}

/// Appends the lower-case hex of `bytes`.
fn push_hex(bytes: &[u8], out: &mut String) {
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(bytes, &mut s);
    s
}

/// Unpadded base64url of `bytes`.
fn base64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut s = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| (n << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            s.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_pseudonyms_never_hold_a_card_number() {
        // Under one key in ten the keyed digits of an IBAN or phone pseudonym used to form a
        // Luhn-valid run that the check then reported as a residual card.
        let values = [
            (Detector::Iban, "DE89 3704 0044 0532 0130 00"),
            (Detector::Phone, "+44 20 7946 0958"),
            (Detector::Card, "4111 1111 1111 1111"),
            (Detector::Ssn, "219-09-9999"),
        ];
        for k in 0..400u32 {
            let mut p = Pseudonymizer::with_raw_key(&k.to_le_bytes(), format!("k{k}"));
            for (d, v) in values {
                let out = p.detected(d, v).to_owned();
                let hits = detect::scan(&out);
                assert!(
                    hits.is_empty(),
                    "key {k}: {d:?} pseudonym flagged as {hits:?}"
                );
            }
        }
    }

    fn p(key: &[u8]) -> Pseudonymizer {
        Pseudonymizer::new(&ScrubKey::from_bytes(key, "t").unwrap())
    }

    fn only_hit(text: &str) -> Vec<Detector> {
        detect::scan(text).into_iter().map(|h| h.detector).collect()
    }

    #[test]
    fn shapes_survive_and_pseudonyms_are_never_hits() {
        let mut ps = p(b"test key 0123456789");
        let cases = [
            (Detector::Email, "Jane.Doe@Example.com"),
            (Detector::Phone, "(415) 555-2671"),
            (Detector::Phone, "+44 20 7946 0958"),
            (Detector::Phone, "1-415-555-2671"),
            (Detector::Ssn, "123-45-6789"),
            (Detector::Card, "4111 1111 1111 1111"),
            (Detector::Iban, "DE89 3704 0044 0532 0130 00"),
            (Detector::Ipv4, "10.1.2.3"),
            (Detector::Ipv6, "2a00:1450:4007:80e::200e"),
            (Detector::Jwt, "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln"),
            (Detector::Credential, "abcdefghijkl"),
            (Detector::Secret, "hunter2"),
        ];
        for (d, v) in cases {
            assert_eq!(
                only_hit(v).len(),
                usize::from(d != Detector::Credential && d != Detector::Secret),
                "{d} raw"
            );
            let s = ps.detected(d, v).to_owned();
            assert_ne!(s, v);
            assert!(only_hit(&s).is_empty(), "{d}: pseudonym `{s}` is a hit");
            if matches!(
                d,
                Detector::Phone | Detector::Ssn | Detector::Card | Detector::Iban
            ) {
                assert_eq!(s.len(), v.len(), "{d}");
                let shape = |x: &str| x.bytes().map(|b| b.is_ascii_digit()).collect::<Vec<_>>();
                assert_eq!(shape(&s), shape(v), "{d}: digits stay digits");
            }
            assert_eq!(ps.detected(d, v), s, "{d}: stable");
        }
        let email = ps
            .detected(Detector::Email, "jane.doe@example.com")
            .to_owned();
        assert!(email.ends_with(".invalid") && email.contains('@'));
        assert_eq!(email, ps.detected(Detector::Email, "Jane.Doe@Example.com"));
        assert!(
            ps.detected(Detector::Ipv4, "10.1.2.3")
                .parse::<Ipv4Addr>()
                .unwrap()
                .octets()[0]
                >= 240
        );
        assert!(!luhn_valid(ps.detected(Detector::Card, "4111111111111111")));
        assert!(
            ps.detected(Detector::Card, "4111111111111111")
                .starts_with('4')
        );
    }

    #[test]
    fn keys_and_entity_types_separate() {
        let (mut a, mut b) = (p(b"key number one 12345"), p(b"key number two 12345"));
        assert_ne!(
            a.detected(Detector::Ipv4, "10.0.0.1"),
            b.detected(Detector::Ipv4, "10.0.0.1")
        );
        assert_ne!(a.whole("12345"), b.whole("12345"));
        // Same digits, different entity: no link.
        assert_ne!(
            a.detected(Detector::Ssn, "123-45-6789").replace('-', ""),
            a.detected(Detector::Phone, "123456789")
        );
    }

    #[test]
    fn whole_values_link_with_detected_ones() {
        let mut ps = p(b"test key 0123456789");
        assert_eq!(
            ps.whole("jane@example.com").to_owned(),
            ps.detected(Detector::Email, "jane@example.com")
        );
        assert_eq!(
            ps.whole("10.1.2.3").to_owned(),
            ps.detected(Detector::Ipv4, "10.1.2.3")
        );
        let d = ps.whole("004217");
        assert_eq!(d.len(), 6);
        assert!(d.bytes().all(|b| b.is_ascii_digit()));
        let t = ps.whole("user-42").to_owned();
        assert!(detect::is_token_pseudonym(&t));
        // Scrubbing twice is stable.
        assert_eq!(ps.whole(&t), t);
        let e = ps.whole("jane@example.com").to_owned();
        assert_eq!(ps.whole(&e), e);
    }

    #[test]
    fn tokens_never_pass_for_numbers() {
        let ps = p(b"test key 0123456789");
        for i in 0..5000 {
            let mut t = String::new();
            ps.token(Entity::Text, &format!("v{i}"), &mut t);
            assert!(detect::is_token_pseudonym(&t), "{t}");
            assert!(t.as_bytes()[4].is_ascii_lowercase(), "{t}");
            assert!(only_hit(&format!("Bearer {t}")).is_empty(), "{t}");
        }
    }

    #[test]
    fn base64url_encodes() {
        assert_eq!(base64url(br#"{"alg":"none","esr":1}"#), JWT_MARKER_HEADER);
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
    }
}
