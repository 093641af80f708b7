//! The action catalog: which request each action of a script sends. Built in: the seed's
//! services (`hms` stubs); a scenario's `catalog` adds actions or replaces built-in ones.

use std::collections::BTreeMap;

use serde_json::json;

use super::model::{CatalogEntry, Scenario};

/// Synthetic payment cards from the card networks' published test ranges (Luhn-valid, never
/// issued to anyone). PAY sends one so that `esr check` has something it must catch if
/// generated traffic is ever exported as if it were scrubbed.
pub const TEST_CARDS: &[&str] = &[
    "4111111111111111", // Visa test
    "4242424242424242", // Visa test
    "5555555555554444", // Mastercard test
    "378282246310005",  // American Express test
    "6011111111111117", // Discover test
];

/// The action that sends nothing: an actor who stops.
pub const ABANDON: &str = "ABANDON";

/// The built-in catalog: `LOGIN` → `POST /login`, `FETCH_PREMIUM` → `POST /fetch_premium`,
/// `PAY` → `POST /pay` (with a test card), `ACH` → `POST /ach/transfer`, `ABANDON` → nothing.
pub fn builtin() -> BTreeMap<String, Option<CatalogEntry>> {
    let entry = |path: &str, body: serde_json::Value| {
        Some(CatalogEntry {
            method: "POST".into(),
            path: path.into(),
            body: Some(body),
            headers: BTreeMap::new(),
        })
    };
    let mut m = BTreeMap::new();
    m.insert(
        "LOGIN".into(),
        entry("/login", json!({"session": "{{session}}"})),
    );
    m.insert(
        "FETCH_PREMIUM".into(),
        entry("/fetch_premium", json!({"session": "{{session}}"})),
    );
    m.insert(
        "PAY".into(),
        entry(
            "/pay",
            json!({"session": "{{session}}", "amount": 74200, "card_number": "{{card}}"}),
        ),
    );
    m.insert(
        "ACH".into(),
        entry(
            "/ach/transfer",
            json!({"session": "{{session}}", "amount": 74200}),
        ),
    );
    m.insert(ABANDON.into(), None);
    m
}

/// The catalog a scenario uses: the built-in one with the scenario's entries over it.
pub fn effective(s: &Scenario) -> BTreeMap<String, Option<CatalogEntry>> {
    let mut m = builtin();
    for (k, v) in &s.catalog {
        m.insert(k.clone(), v.clone());
    }
    m
}

/// A catalog entry made ready to stamp out requests: method, path, the endpoint key the
/// metrics tap files it under, and the header and body templates.
#[derive(Debug, Clone)]
pub struct Request {
    /// Upper-case method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// `METHOD /template`, as the scorecard's endpoints name it.
    pub endpoint: String,
    headers: String,
    body: Option<String>,
}

impl Request {
    /// Prepares an entry.
    pub fn new(e: &CatalogEntry) -> Request {
        let method = e.method.to_ascii_uppercase();
        let mut headers = e.headers.clone();
        if e.body.is_some()
            && !headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("content-type"))
        {
            headers.insert("content-type".into(), "application/json".into());
        }
        Request {
            endpoint: format!("{method} {}", crate::trace::fold_path(&e.path)),
            method,
            path: e.path.clone(),
            headers: serde_json::to_string(&headers).unwrap_or_else(|_| "{}".into()),
            body: e.body.as_ref().map(|b| b.to_string()),
        }
    }

    /// The headers (a JSON object) for one actor.
    pub fn headers(&self, session: &str, card: &str) -> String {
        fill(&self.headers, session, card)
    }

    /// The body for one actor.
    pub fn body(&self, session: &str, card: &str) -> Option<Vec<u8>> {
        self.body
            .as_ref()
            .map(|b| fill(b, session, card).into_bytes())
    }
}

fn fill(template: &str, session: &str, card: &str) -> String {
    if !template.contains("{{") {
        return template.to_string();
    }
    template
        .replace("{{session}}", session)
        .replace("{{card}}", card)
}

/// True when `digits` passes the Luhn check.
pub fn luhn_ok(digits: &str) -> bool {
    let mut sum = 0;
    for (i, c) in digits.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_are_luhn_valid() {
        for c in TEST_CARDS {
            assert!(luhn_ok(c), "{c}");
        }
        assert!(!luhn_ok("4111111111111112"));
    }

    #[test]
    fn pay_carries_a_card_and_the_session() {
        let cat = builtin();
        let pay = Request::new(cat["PAY"].as_ref().unwrap());
        assert_eq!(pay.endpoint, "POST /pay");
        let body = String::from_utf8(pay.body("s-1", TEST_CARDS[0]).unwrap()).unwrap();
        assert!(
            body.contains("4111111111111111") && body.contains("\"s-1\""),
            "{body}"
        );
        assert!(pay.headers("s-1", "x").contains("application/json"));
        assert!(cat["ABANDON"].is_none());
    }
}
