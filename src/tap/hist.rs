//! HDR histograms of one run: latency from the due time, service time and schedule lateness,
//! overall and per endpoint, in microseconds with 3 significant digits.
//!
//! They are serialized (HdrHistogram V2 + deflate, base64, the form HdrHistogram's own log
//! format uses) into `histograms.json` in the run folder, so shard runs merge exactly.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};

use super::TapError;

/// Name of the histogram file in a run folder.
pub const HISTOGRAMS_FILE: &str = "histograms.json";

/// Significant digits kept by every histogram (0.1 % relative precision).
pub const SIGFIG: u8 = 3;

/// Highest value tracked before the first resize (µs). Histograms start small and grow to the
/// largest value seen (memory ~ 8 KiB per doubling of the range), so a lateness histogram of
/// a punctual run stays at ~24 KiB while a latency one reaching 1 s takes ~90 KiB.
const HIGH_US: u64 = 4096;

/// Endpoints tracked separately; any further endpoint is folded into [`OTHER_ENDPOINT`] so a
/// trace with unfolded ids cannot make memory grow without bound.
pub const MAX_ENDPOINTS: usize = 100;

/// The key under which endpoints beyond [`MAX_ENDPOINTS`] are counted.
pub const OTHER_ENDPOINT: &str = "(other)";

/// A new empty microsecond histogram with esr's bounds and precision.
pub fn new_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, HIGH_US, SIGFIG).expect("static bounds are valid");
    h.auto(true);
    h
}

/// Records `v` (µs), growing the histogram past its initial range; clamps only if growing
/// fails (a value beyond what a u64 histogram can hold).
fn record(h: &mut Histogram<u64>, v: i64) {
    let v = v.max(0) as u64;
    if h.record(v).is_err() {
        h.saturating_record(v);
    }
}

/// The three histograms kept for the whole run and for each endpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct HistSet {
    /// Latency from the due time to completion (coordinated-omission free).
    pub latency: Histogram<u64>,
    /// Service time: from the actual send to completion.
    pub service: Histogram<u64>,
    /// Schedule lateness: send minus due.
    pub lateness: Histogram<u64>,
}

impl Default for HistSet {
    fn default() -> Self {
        HistSet {
            latency: new_histogram(),
            service: new_histogram(),
            lateness: new_histogram(),
        }
    }
}

impl HistSet {
    /// Records one request's three times (µs, negative values clamp to 0).
    pub fn record(&mut self, latency_us: i64, service_us: i64, lateness_us: i64) {
        record(&mut self.latency, latency_us);
        record(&mut self.service, service_us);
        record(&mut self.lateness, lateness_us);
    }

    /// Adds every count of `other` (exact: same bucket layout).
    pub fn merge(&mut self, other: &HistSet) -> Result<(), TapError> {
        let err = |e: hdrhistogram::AdditionError| TapError::Histogram(format!("{e:?}"));
        self.latency.add(&other.latency).map_err(err)?;
        self.service.add(&other.service).map_err(err)?;
        self.lateness.add(&other.lateness).map_err(err)?;
        Ok(())
    }
}

/// Every histogram of a run: overall and per endpoint (`METHOD template`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunHistograms {
    /// The whole run.
    pub overall: HistSet,
    /// One set per endpoint key, sorted by key.
    pub endpoints: BTreeMap<String, HistSet>,
}

#[derive(Serialize, Deserialize)]
struct HistFile {
    version: u32,
    unit: String,
    significant_digits: u8,
    encoding: String,
    overall: EncodedSet,
    endpoints: BTreeMap<String, EncodedSet>,
}

#[derive(Serialize, Deserialize)]
struct EncodedSet {
    latency: String,
    service: String,
    lateness: String,
}

impl RunHistograms {
    /// Adds every count of `other`, endpoint by endpoint (used to merge shard runs).
    pub fn merge(&mut self, other: &RunHistograms) -> Result<(), TapError> {
        self.overall.merge(&other.overall)?;
        for (k, set) in &other.endpoints {
            self.endpoints.entry(k.clone()).or_default().merge(set)?;
        }
        Ok(())
    }

    /// Serializes to the JSON text of `histograms.json`.
    pub fn to_json(&self) -> Result<String, TapError> {
        let mut ser = V2DeflateSerializer::new();
        let file = HistFile {
            version: 1,
            unit: "us".into(),
            significant_digits: SIGFIG,
            encoding: "hdr-v2-deflate-base64".into(),
            overall: encode_set(&mut ser, &self.overall)?,
            endpoints: self
                .endpoints
                .iter()
                .map(|(k, s)| Ok((k.clone(), encode_set(&mut ser, s)?)))
                .collect::<Result<_, TapError>>()?,
        };
        serde_json::to_string_pretty(&file).map_err(|e| TapError::Histogram(e.to_string()))
    }

    /// Parses the JSON text of `histograms.json`.
    pub fn from_json(text: &str) -> Result<Self, TapError> {
        let file: HistFile = serde_json::from_str(text)
            .map_err(|e| TapError::Histogram(format!("not an esr histogram file: {e}")))?;
        if file.version != 1 {
            return Err(TapError::Histogram(format!(
                "histogram file version `{}` is not supported (expected `1`)",
                file.version
            )));
        }
        let mut de = Deserializer::new();
        Ok(RunHistograms {
            overall: decode_set(&mut de, &file.overall)?,
            endpoints: file
                .endpoints
                .iter()
                .map(|(k, s)| Ok((k.clone(), decode_set(&mut de, s)?)))
                .collect::<Result<_, TapError>>()?,
        })
    }

    /// Writes `histograms.json` into `run_dir`.
    pub fn write(&self, run_dir: &Path) -> Result<(), TapError> {
        let path = run_dir.join(HISTOGRAMS_FILE);
        std::fs::write(&path, self.to_json()?).map_err(|e| TapError::Io { path, source: e })
    }

    /// Reads `histograms.json` from `run_dir`.
    pub fn read(run_dir: &Path) -> Result<Self, TapError> {
        let path = run_dir.join(HISTOGRAMS_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| TapError::Io {
            path: path.clone(),
            source: e,
        })?;
        Self::from_json(&text)
    }
}

fn encode_set(ser: &mut V2DeflateSerializer, s: &HistSet) -> Result<EncodedSet, TapError> {
    Ok(EncodedSet {
        latency: encode(ser, &s.latency)?,
        service: encode(ser, &s.service)?,
        lateness: encode(ser, &s.lateness)?,
    })
}

fn encode(ser: &mut V2DeflateSerializer, h: &Histogram<u64>) -> Result<String, TapError> {
    let mut buf = Vec::new();
    ser.serialize(h, &mut buf)
        .map_err(|e| TapError::Histogram(format!("cannot serialize a histogram: {e:?}")))?;
    Ok(B64.encode(buf))
}

fn decode_set(de: &mut Deserializer, s: &EncodedSet) -> Result<HistSet, TapError> {
    Ok(HistSet {
        latency: decode(de, &s.latency)?,
        service: decode(de, &s.service)?,
        lateness: decode(de, &s.lateness)?,
    })
}

fn decode(de: &mut Deserializer, text: &str) -> Result<Histogram<u64>, TapError> {
    let bytes = B64
        .decode(text)
        .map_err(|e| TapError::Histogram(format!("bad base64 in histogram file: {e}")))?;
    let mut h: Histogram<u64> = de
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| TapError::Histogram(format!("cannot decode a histogram: {e:?}")))?;
    h.auto(true);
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(values: impl Iterator<Item = i64>) -> HistSet {
        let mut s = HistSet::default();
        for v in values {
            s.record(v, v / 2, v / 10);
        }
        s
    }

    #[test]
    fn round_trip_is_identical() {
        let mut run = RunHistograms {
            overall: filled(1..5000),
            ..Default::default()
        };
        run.endpoints
            .insert("GET /a".into(), filled((0..300).map(|i| i * 997)));
        let back = RunHistograms::from_json(&run.to_json().unwrap()).unwrap();
        assert_eq!(back.overall.latency, run.overall.latency);
        assert_eq!(
            back.endpoints["GET /a"].service,
            run.endpoints["GET /a"].service
        );
        assert_eq!(back.overall.latency.len(), 4999);
    }

    #[test]
    fn merge_equals_one_built_from_all_values() {
        let mut a = filled(1..1000);
        let b = filled(1000..250_000);
        let all = filled(1..250_000);
        a.merge(&b).unwrap();
        assert_eq!(a, all);
    }

    #[test]
    fn huge_values_resize_instead_of_failing() {
        let mut s = HistSet::default();
        s.record(3_600_000_000, 1, -5);
        assert_eq!(s.latency.len(), 1);
        assert!(s.latency.max() >= 3_599_000_000);
        assert_eq!(s.lateness.max(), 0);
    }
}
