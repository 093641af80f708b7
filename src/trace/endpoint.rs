//! Folding concrete paths into endpoint templates (`/users/42` → `/users/{id}`).

/// Folds a request path into its endpoint template: the query is dropped and every segment
/// that looks like an identifier (digits, a UUID, a long hex or base64-ish token, an email, an
/// esr pseudonym) becomes `{id}`. Used by `inspect`, the stub's `--from-trace` and the tap.
pub fn fold_path(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("");
    if path.is_empty() {
        return "/".to_string();
    }
    let mut out = String::with_capacity(path.len());
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if looks_like_id(seg) {
            out.push_str("{id}");
        } else {
            out.push_str(seg);
        }
    }
    out
}

fn looks_like_id(seg: &str) -> bool {
    if seg.is_empty() {
        return false;
    }
    let bytes = seg.as_bytes();
    let digits = bytes.iter().filter(|b| b.is_ascii_digit()).count();
    // Pure numbers, and numbers with separators (`2024-05-01`, `12.50`).
    if digits > 0
        && bytes
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_' | b':'))
    {
        return true;
    }
    // Emails and percent-encoded emails.
    if seg.contains('@') || seg.contains("%40") {
        return true;
    }
    // UUIDs and long hex digests.
    let hex = bytes.iter().all(|b| b.is_ascii_hexdigit() || *b == b'-');
    if hex && seg.len() >= 16 && digits > 0 {
        return true;
    }
    // Opaque tokens: long, mixing letters and digits (base64, pseudonyms like `u_3fa9c2d1`).
    if seg.len() >= 8 && digits >= 2 {
        let alnum = bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=' | b'.'));
        let letters = bytes.iter().filter(|b| b.is_ascii_alphabetic()).count();
        if alnum && letters > 0 {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::fold_path;

    #[test]
    fn folds_ids() {
        assert_eq!(fold_path("/users/42/orders?x=1"), "/users/{id}/orders");
        assert_eq!(
            fold_path("/policy/3fa85f64-5717-4562-b3fc-2c963f66afa6"),
            "/policy/{id}"
        );
        assert_eq!(fold_path("/u/jane%40example.com"), "/u/{id}");
        assert_eq!(fold_path("/sess/u_3fa9c2d1e4"), "/sess/{id}");
        assert_eq!(fold_path("/fetch_premium"), "/fetch_premium");
        assert_eq!(fold_path("/api/v2/login"), "/api/v2/login");
        assert_eq!(fold_path(""), "/");
    }
}
