//! Scrub: detects personal data and replaces it with keyed pseudonyms. (Being built.)
