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

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::detect::{self, Detector, JWT_MARKER_HEADER, TOKEN_PREFIX, luhn_valid};
use super::key::ScrubKey;

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
/// Cache slot of whole values (their shape already decided), after the entity slots.
const WHOLE_SLOT: usize = SLOTS;

/// Entries per entity kept in the cache of pseudonyms of repeated values; when full the cache
/// is cleared (cheap, bounded, and good enough for the heavy repeats of logs: sessions, IPs).
/// Scrubbing lanes each hold their own caches, so this bounds RSS per lane.
const CACHE_LIMIT: usize = 1 << 14;

/// Value -> pseudonym of one entity slot.
type Cache = std::collections::HashMap<String, String, foldhash::fast::RandomState>;

/// Makes pseudonyms under one key, caching the pseudonyms of repeated values.
pub struct Pseudonymizer {
    mac: Hmac<Sha256>,
    key_id: String,
    /// Per entity slot; foldhash, because SipHash of every looked-up value showed in profiles.
    cache: Vec<Cache>,
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
        Pseudonymizer {
            mac: <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length"),
            key_id,
            cache: (0..=SLOTS).map(|_| Cache::default()).collect(),
        }
    }

    /// A pseudonymizer under the same key with empty caches, for another thread: the
    /// pseudonyms are the same (a keyed HMAC does not depend on who computes it).
    pub(crate) fn fork(&self) -> Pseudonymizer {
        Pseudonymizer {
            mac: self.mac.clone(),
            key_id: self.key_id.clone(),
            cache: (0..=SLOTS).map(|_| Cache::default()).collect(),
        }
    }

    /// The id of the key in use.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    fn digest(&self, e: Entity, value: &[u8], counter: u8) -> [u8; 32] {
        let mut m = self.mac.clone();
        m.update(e.tag());
        m.update(&[0]);
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

    fn cached(&mut self, e: Entity, value: &str, make: impl FnOnce(&Self) -> String) -> String {
        if let Some(p) = self.cache[e.slot()].get(value) {
            return p.clone();
        }
        // Every pseudonym passes the detectors, whatever its kind: keyed digits and hex can
        // form a card number by chance (inside an `esr_` token, an IBAN, a phone number).
        // A card needs 12 digits and a numeric IBAN about as many, so most pseudonyms skip the
        // re-scan (it cost ingest with scrubbing a third of its time).
        let p = make(self);
        let p = if matches!(e, Entity::Detected(Detector::Iban))
            || p.bytes().filter(u8::is_ascii_digit).count() >= 12
        {
            not_detectable(p)
        } else {
            p
        };
        let slot = &mut self.cache[e.slot()];
        if slot.len() >= CACHE_LIMIT {
            slot.clear();
        }
        slot.insert(value.to_string(), p.clone());
        p
    }

    /// The pseudonym of `value`, a hit of detector `d`.
    pub fn detected(&mut self, d: Detector, value: &str) -> String {
        self.cached(Entity::Detected(d), value, |p| p.make(d, value))
    }

    fn make(&self, d: Detector, value: &str) -> String {
        let e = Entity::Detected(d);
        match d {
            Detector::Email => self.email(value),
            Detector::Phone => {
                let first_zero = if value.starts_with('+') {
                    0
                } else {
                    let n = value.bytes().filter(u8::is_ascii_digit).count();
                    // `1 415 ...`: the area code is the second digit.
                    usize::from(n == 11 && value.trim_start_matches('(').starts_with('1'))
                };
                self.fill_digits(e, value, |i, _| (i == first_zero).then_some(b'0'))
            }
            // Area 9xx is never issued: the pseudonym is not an SSN.
            Detector::Ssn => self.fill_digits(e, value, |i, _| (i == 0).then_some(b'9')),
            Detector::Card => {
                let first = value.as_bytes()[0];
                let mut s = self.fill_digits(e, value, |i, _| (i == 0).then_some(first));
                if luhn_valid(&s) {
                    // Changing any one digit breaks Luhn: the pseudonym is never a card.
                    let last = s
                        .rfind(|c: char| c.is_ascii_digit())
                        .expect("cards have digits");
                    let d = s.as_bytes()[last] - b'0';
                    s.replace_range(last..last + 1, &((d + 1) % 10).to_string());
                }
                s
            }
            Detector::Iban => self.iban(value),
            Detector::Ipv4 => match value.parse() {
                Ok(ip) => self.ipv4(ip).to_string(),
                Err(_) => self.token(e, value),
            },
            Detector::Ipv6 => match value.parse() {
                Ok(ip) => self.ipv6(ip).to_string(),
                Err(_) => self.token(e, value),
            },
            Detector::Jwt => self.jwt(value),
            Detector::Credential | Detector::Secret => self.token(e, value),
        }
    }

    /// Replaces the digits of `value` with keyed digits (of its digits alone, so formatting
    /// does not change the pseudonym); `force(i, digit)` may pin the i-th digit.
    fn fill_digits(
        &self,
        e: Entity,
        value: &str,
        force: impl Fn(usize, u8) -> Option<u8>,
    ) -> String {
        let norm: Vec<u8> = value.bytes().filter(u8::is_ascii_digit).collect();
        let keyed = self.digits(e, &norm, norm.len());
        let mut i = 0;
        let out: Vec<u8> = value
            .bytes()
            .map(|b| {
                if b.is_ascii_digit() {
                    let d = force(i, keyed[i]).unwrap_or(keyed[i]);
                    i += 1;
                    d
                } else {
                    b
                }
            })
            .collect();
        String::from_utf8(out).expect("ASCII digits replaced by ASCII digits")
    }

    fn email(&self, value: &str) -> String {
        let lower = value.to_ascii_lowercase();
        let domain = lower.rsplit_once('@').map_or("", |(_, d)| d);
        let local = self.digest(Entity::Detected(Detector::Email), lower.as_bytes(), 0);
        let dom = self.digest(Entity::EmailDomain, domain.as_bytes(), 0);
        format!("u{}@d{}.invalid", hex(&local[..5]), hex(&dom[..3]))
    }

    fn iban(&self, value: &str) -> String {
        let compact: Vec<u8> = value
            .bytes()
            .filter(|b| *b != b' ')
            .map(|b| b.to_ascii_uppercase())
            .collect();
        let h = self.digits(Entity::Detected(Detector::Iban), &compact, compact.len());
        let mut i = 0;
        value
            .chars()
            .map(|c| {
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
            })
            .collect()
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

    fn jwt(&self, value: &str) -> String {
        let h = self.digest(Entity::Detected(Detector::Jwt), value.as_bytes(), 0);
        let payload = format!("{{\"sub\":\"{}\"}}", hex(&h[..8]));
        format!(
            "{JWT_MARKER_HEADER}.{}.{}",
            base64url(payload.as_bytes()),
            hex(&h[8..16])
        )
    }

    fn token(&self, e: Entity, value: &str) -> String {
        let h = self.digest(e, value.as_bytes(), 0);
        // The hex starts with a letter: an all-digit token (1 in 1,800) could otherwise pass
        // for a card or phone number right after the `esr_` prefix.
        let lead = char::from(b'a' + h[8] % 6);
        format!("{TOKEN_PREFIX}{lead}{}", &hex(&h[..8])[1..])
    }

    /// The pseudonym of a whole value (a column or header the policy hashes), by its shape:
    /// an email, IP, card, phone... gets that kind's pseudonym, so it links with the same value
    /// found in free text; all digits stay digits of the same length; anything else becomes an
    /// `esr_` token. esr's own pseudonyms are kept as they are, so scrubbing twice is stable.
    pub fn whole(&mut self, value: &str) -> String {
        if value.is_empty() {
            return String::new();
        }
        // Identifier columns repeat (sessions, addresses): skip the shape tests for them.
        if let Some(p) = self.cache[WHOLE_SLOT].get(value) {
            return p.clone();
        }
        let p = self.whole_uncached(value);
        let slot = &mut self.cache[WHOLE_SLOT];
        if slot.len() >= CACHE_LIMIT {
            slot.clear();
        }
        slot.insert(value.to_string(), p.clone());
        p
    }

    fn whole_uncached(&mut self, value: &str) -> String {
        if let Ok(ip) = value.parse::<IpAddr>() {
            return match ip {
                IpAddr::V4(v4) if detect::is_pseudonym(Detector::Ipv4, value) => v4.to_string(),
                IpAddr::V6(v6) if detect::is_pseudonym(Detector::Ipv6, value) => v6.to_string(),
                _ => {
                    let d = if ip.is_ipv4() {
                        Detector::Ipv4
                    } else {
                        Detector::Ipv6
                    };
                    self.detected(d, value)
                }
            };
        }
        if detect::is_token_pseudonym(value)
            || detect::is_pseudonym(Detector::Email, value)
            || detect::is_pseudonym(Detector::Jwt, value)
        {
            return value.to_string();
        }
        let hits = detect::scan(value);
        if let [h] = hits.as_slice()
            && h.start == 0
            && h.end == value.len()
        {
            return self.detected(h.detector, value);
        }
        if value.bytes().all(|b| b.is_ascii_digit()) {
            return self.cached(Entity::Digits, value, |p| {
                p.fill_digits(Entity::Digits, value, |_, _| None)
            });
        }
        self.cached(Entity::Text, value, |p| p.token(Entity::Text, value))
    }
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

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
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
                let out = p.detected(d, v);
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
            let s = ps.detected(d, v);
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
        let email = ps.detected(Detector::Email, "jane.doe@example.com");
        assert!(email.ends_with(".invalid") && email.contains('@'));
        assert_eq!(email, ps.detected(Detector::Email, "Jane.Doe@Example.com"));
        assert!(
            ps.detected(Detector::Ipv4, "10.1.2.3")
                .parse::<Ipv4Addr>()
                .unwrap()
                .octets()[0]
                >= 240
        );
        assert!(!luhn_valid(
            &ps.detected(Detector::Card, "4111111111111111")
        ));
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
            ps.whole("jane@example.com"),
            ps.detected(Detector::Email, "jane@example.com")
        );
        assert_eq!(
            ps.whole("10.1.2.3"),
            ps.detected(Detector::Ipv4, "10.1.2.3")
        );
        let d = ps.whole("004217");
        assert_eq!(d.len(), 6);
        assert!(d.bytes().all(|b| b.is_ascii_digit()));
        let t = ps.whole("user-42");
        assert!(detect::is_token_pseudonym(&t));
        // Scrubbing twice is stable.
        assert_eq!(ps.whole(&t), t);
        let e = ps.whole("jane@example.com");
        assert_eq!(ps.whole(&e), e);
    }

    #[test]
    fn tokens_never_pass_for_numbers() {
        let ps = p(b"test key 0123456789");
        for i in 0..5000 {
            let t = ps.token(Entity::Text, &format!("v{i}"));
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
