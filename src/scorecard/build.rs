//! From a finished tap and the run's context to a [`Scorecard`].

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use super::model::*;
use super::threshold::{Metric, Threshold};
use super::{FaultWindow, RunContext};
use crate::tap::{Counts, HistSet, MiniHist, Series, TapSummary};

/// Success-rate tolerance (percentage points) for "back within the before-phase level".
const RECOVERY_TOLERANCE_PP: f64 = 1.0;

/// The note of a run that passed every gate.
pub const READY: &str = "Ready for production!";

/// Percentiles (ms) of a µs histogram.
pub fn percentiles(h: &Histogram<u64>) -> Percentiles {
    if h.is_empty() {
        return Percentiles::default();
    }
    let q = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    Percentiles {
        p50: q(0.5),
        p90: q(0.9),
        p95: q(0.95),
        p99: q(0.99),
        p999: q(0.999),
        max: h.max() as f64 / 1000.0,
        mean: (h.mean() / 1000.0 * 1000.0).round() / 1000.0,
    }
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        round4(part as f64 * 100.0 / whole as f64)
    }
}

/// Rounds to 4 decimals: enough for every figure of a scorecard, and short decimals read back
/// from JSON as the very same `f64`.
fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// Failures by kind: transport kinds and HTTP classes.
fn error_map(c: &Counts) -> BTreeMap<String, u64> {
    let mut m: BTreeMap<String, u64> = c
        .errors
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), *v))
        .collect();
    for (status, n) in &c.status_counts {
        let class = match status {
            400..=499 => "http_4xx",
            500.. => "http_5xx",
            _ => continue,
        };
        *m.entry(class.to_string()).or_default() += n;
    }
    m
}

fn status_map(c: &Counts) -> BTreeMap<String, u64> {
    c.status_counts
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect()
}

fn endpoint_card(key: &str, c: &Counts, h: Option<&HistSet>) -> EndpointCard {
    let empty = HistSet::default();
    let h = h.unwrap_or(&empty);
    EndpointCard {
        endpoint: key.to_string(),
        requests: c.requests,
        completed: c.completed,
        error_count: c.requests - c.successes,
        errors: error_map(c),
        success_rate: pct(c.successes, c.requests),
        latency_ms: percentiles(&h.latency),
        service_ms: percentiles(&h.service),
        lateness_ms: percentiles(&h.lateness),
        late_starts: c.late_starts,
        status_counts: status_map(c),
    }
}

/// Bars of the latency histogram: buckets a factor √2 wide, from the fastest to the slowest
/// request, counted exactly from the HDR histogram.
pub fn histogram_bars(h: &Histogram<u64>) -> Vec<HistogramBar> {
    if h.is_empty() {
        return Vec::new();
    }
    let lo = (h.min().max(1)) as f64;
    let hi = h.max().max(1) as f64;
    let step = std::f64::consts::SQRT_2;
    let first = lo.log(step).floor() as i32;
    let n = ((hi.log(step).floor() as i32 - first) + 1).clamp(1, 80) as usize;
    let mut bars: Vec<HistogramBar> = (0..n)
        .map(|i| HistogramBar {
            from_ms: round4(step.powi(first + i as i32) / 1000.0),
            to_ms: round4(step.powi(first + i as i32 + 1) / 1000.0),
            count: 0,
        })
        .collect();
    for v in h.iter_recorded() {
        let x = (v.value_iterated_to().max(1)) as f64;
        let i = ((x.log(step).floor() as i32 - first).max(0) as usize).min(n - 1);
        bars[i].count += v.count_at_value();
    }
    bars
}

fn phase(series: &Series, from_us: i64, to_us: i64) -> PhaseStats {
    let w = series.width_us();
    let mut hist = MiniHist::default();
    let (mut requests, mut errors) = (0, 0);
    for (i, b) in series.buckets().iter().enumerate() {
        let t = i as i64 * w;
        if t >= from_us && t < to_us {
            requests += b.intended;
            errors += b.errors;
            hist.merge(&b.latency);
        }
    }
    PhaseStats {
        start_s: from_us as f64 / 1e6,
        end_s: to_us as f64 / 1e6,
        requests,
        errors,
        success_rate: pct(requests - errors, requests),
        latency_p50_ms: hist.quantile(0.5) / 1000.0,
        latency_p99_ms: hist.quantile(0.99) / 1000.0,
    }
}

/// Splits the run around one fault window. A bucket belongs to the phase its start falls in.
pub fn fault_phases(series: &Series, run_end_us: i64, fw: &FaultWindow) -> FaultPhases {
    let w = series.width_us();
    // Buckets start on multiples of the width: align the window's edges up to the next one,
    // so the first "during" bucket is the first that starts inside the window.
    let align = |t: i64| (t.max(0) + w - 1) / w * w;
    let (start, end) = (align(fw.start_us), align(fw.end_us.max(fw.start_us)));
    let end_all = align(run_end_us.max(end)) + w;
    let before = phase(series, 0, start);
    let during = phase(series, start, end);
    let after = phase(series, end, end_all);
    let base = if before.requests > 0 {
        before.success_rate
    } else {
        100.0
    };
    let time_to_recover_s = series
        .buckets()
        .iter()
        .enumerate()
        .map(|(i, b)| (i as i64 * w, b))
        .filter(|(t, b)| *t >= end && b.intended > 0)
        .find(|(_, b)| pct(b.intended - b.errors, b.intended) >= base - RECOVERY_TOLERANCE_PP)
        .map(|(t, _)| (t - fw.end_us).max(0) as f64 / 1e6);
    FaultPhases {
        window: fw.name.clone(),
        start_s: fw.start_us as f64 / 1e6,
        end_s: fw.end_us as f64 / 1e6,
        before,
        during,
        after,
        time_to_recover_s,
    }
}

fn measured(card: &Scorecard, m: Metric) -> f64 {
    match m {
        Metric::LatencyP50 => card.latency_ms.p50,
        Metric::LatencyP90 => card.latency_ms.p90,
        Metric::LatencyP95 => card.latency_ms.p95,
        Metric::LatencyP99 => card.latency_ms.p99,
        Metric::LatencyP999 => card.latency_ms.p999,
        Metric::LatencyMax => card.latency_ms.max,
        Metric::Success => card.success_rate,
        Metric::Errors => card.error_rate,
        Metric::LateStarts => card.late_starts as f64,
        Metric::Rate => card.achieved_rate,
    }
}

/// Judges the thresholds and writes the verdict and the notes.
pub fn judge(card: &mut Scorecard, thresholds: &[Threshold]) {
    card.thresholds = thresholds
        .iter()
        .map(|t| t.judge(measured(card, t.metric)))
        .collect();
    let mut failed: Vec<String> = card
        .thresholds
        .iter()
        .filter(|t| !t.passed)
        .map(|t| format!("threshold {}", t.describe()))
        .collect();
    if card.compliance_hits > 0 {
        failed.push(format!(
            "{} compliance hit(s): personal data in the trace or the responses",
            card.compliance_hits
        ));
    }
    let mut notes = Vec::new();
    if failed.is_empty() {
        card.verdict = "PASS".into();
        notes.push(READY.to_string());
        if thresholds.is_empty() {
            notes.push("no thresholds were set (add --threshold to gate the run)".into());
        }
    } else {
        card.verdict = "FAIL".into();
        notes.push(format!("Not ready: {}", failed.join("; ")));
    }
    if card.interrupted {
        notes.push(format!(
            "the run was interrupted: {} of {} planned requests were sent",
            card.requests, card.intended_requests
        ));
    }
    if !card.esq_rule_violations.is_empty() {
        let rules: Vec<String> = card
            .esq_rule_violations
            .iter()
            .map(|v| format!("{} ({})", v.rule, v.count))
            .collect();
        notes.push(format!("ESQ rule violations: {}", rules.join(", ")));
    }
    card.notes = notes.join("; ");
}

/// Builds the scorecard of a finished run and judges `thresholds`.
pub fn build(summary: &TapSummary, ctx: &RunContext, thresholds: &[Threshold]) -> Scorecard {
    let c = &summary.counts;
    let h = &summary.histograms.overall;
    let latency_ms = percentiles(&h.latency);
    let sent_span_s = match (c.first_sent_us, c.last_sent_us) {
        (Some(a), Some(b)) if b > a => (b - a) as f64 / 1e6,
        _ => 0.0,
    };
    let achieved_rate = if sent_span_s > 0.0 {
        // n requests over a span between the first and the last send: n-1 gaps.
        round4((c.requests.saturating_sub(1)) as f64 / sent_span_s)
    } else {
        c.requests as f64
    };
    let intended_rate = if ctx.intended_duration_s > 0.0 {
        round4((ctx.intended_requests.saturating_sub(1)) as f64 / ctx.intended_duration_s)
    } else {
        ctx.rate.unwrap_or(ctx.intended_requests as f64)
    };
    let run_end_us = c.last_done_us.unwrap_or(0);
    let mut card = Scorecard {
        schema: SCORECARD_SCHEMA,
        run_id: ctx.run_id.clone(),
        started_at: ctx.started_at.clone(),
        target: ctx.target.clone(),
        speed: ctx.speed,
        rate: ctx.rate,
        requests: c.requests,
        completed: c.completed,
        error_count: c.requests - c.successes,
        errors: error_map(c),
        error_rate: pct(c.requests - c.successes, c.requests),
        success_rate: pct(c.successes, c.requests),
        latency_p95_ms: latency_ms.p95,
        latency_ms,
        service_ms: percentiles(&h.service),
        lateness_ms: percentiles(&h.lateness),
        late_starts: c.late_starts,
        intended_requests: ctx.intended_requests,
        intended_duration_s: ctx.intended_duration_s,
        intended_rate,
        achieved_rate,
        duration_s: run_end_us.max(0) as f64 / 1e6,
        status_counts: status_map(c),
        endpoints: summary
            .endpoints
            .iter()
            .map(|(k, ec)| endpoint_card(k, ec, summary.histograms.endpoints.get(k)))
            .collect(),
        phases: ctx
            .fault_windows
            .iter()
            .map(|fw| fault_phases(&summary.series, run_end_us, fw))
            .collect(),
        compliance_hits: ctx.compliance_hits,
        esq_rule_violations: ctx.esq_rule_violations.clone(),
        stub_overhead_ms: ctx.stub_overhead_ms.clone(),
        queued: ctx.queued.max(c.queued),
        throttled: ctx.throttled.max(c.throttled),
        interrupted: ctx.interrupted,
        series: summary.series.points(),
        latency_histogram: histogram_bars(&h.latency),
        ..Default::default()
    };
    judge(&mut card, thresholds);
    card
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tap::{Tap, test_outcome as ok};

    #[test]
    fn ten_percent_500s_is_ninety_percent_success() {
        let dir = tempfile::tempdir().unwrap();
        let mut tap = Tap::create(dir.path()).unwrap();
        for i in 0..1000 {
            let status = if i % 10 == 3 { 500 } else { 200 };
            tap.record(&ok(i, i as i64, 100, status)).unwrap();
        }
        let s = tap.finish().unwrap();
        let ctx = RunContext {
            run_id: "RUN-0001".into(),
            intended_requests: 1000,
            intended_duration_s: 0.999,
            ..Default::default()
        };
        let ts = [
            Threshold::parse("success>=97.5%").unwrap(),
            Threshold::parse("p95<500ms").unwrap(),
        ];
        let card = build(&s, &ctx, &ts);
        assert_eq!(card.success_rate, 90.0);
        assert_eq!(card.errors["http_5xx"], 100);
        assert!((card.latency_ms.p50 - 100.0).abs() < 0.1);
        assert_eq!(card.latency_p95_ms, card.latency_ms.p95);
        assert!(!card.thresholds[0].passed && card.thresholds[1].passed);
        assert!(!card.passed());
        assert_eq!(card.verdict, "FAIL");
        assert!(card.notes.contains("success>=97.5%"), "{}", card.notes);
        assert!((card.intended_rate - 1000.0).abs() < 1.0);
        assert!((card.achieved_rate - 1000.0).abs() < 1.0);
    }

    #[test]
    fn phases_split_around_a_fault_window() {
        let dir = tempfile::tempdir().unwrap();
        let mut tap = Tap::create(dir.path()).unwrap();
        // 30 s at 10 req/s; 10..20 s all 503; after 22 s everything succeeds again;
        // 20..22 s half fail (slow recovery).
        for i in 0..300i64 {
            let t_ms = i * 100;
            let status = match t_ms {
                10_000..20_000 => 503,
                20_000..22_000 if i % 2 == 0 => 503,
                _ => 200,
            };
            tap.record(&ok(i as u64, t_ms, 10, status)).unwrap();
        }
        let s = tap.finish().unwrap();
        let ctx = RunContext {
            fault_windows: vec![FaultWindow {
                name: "ACH_DOWN".into(),
                start_us: 10_000_000,
                end_us: 20_000_000,
            }],
            ..Default::default()
        };
        let card = build(&s, &ctx, &[]);
        let p = &card.phases[0];
        assert_eq!(p.before.requests, 100);
        assert_eq!(p.before.success_rate, 100.0);
        assert_eq!(p.during.requests, 100);
        assert_eq!(p.during.success_rate, 0.0);
        assert_eq!(p.after.requests, 100);
        assert_eq!(p.after.errors, 10);
        assert_eq!(p.time_to_recover_s, Some(2.0));
        assert_eq!(card.verdict, "PASS");
        assert!(card.notes.starts_with(READY));
    }

    #[test]
    fn an_empty_run_renders_and_fails_its_gates() {
        let dir = tempfile::tempdir().unwrap();
        let s = Tap::create(dir.path()).unwrap().finish().unwrap();
        let ts = [Threshold::parse("success>=97.5%").unwrap()];
        let card = build(&s, &RunContext::default(), &ts);
        assert_eq!((card.requests, card.success_rate), (0, 0.0));
        assert!(!card.passed());
        assert!(card.render_html().contains("<svg"));
        assert!(card.render_text().contains("verdict     FAIL"));
    }

    #[test]
    fn histogram_bars_count_every_request() {
        let dir = tempfile::tempdir().unwrap();
        let mut tap = Tap::create(dir.path()).unwrap();
        for i in 0..500 {
            tap.record(&ok(i, 0, 1 + (i as i64 % 250), 200)).unwrap();
        }
        let s = tap.finish().unwrap();
        let bars = histogram_bars(&s.histograms.overall.latency);
        assert_eq!(bars.iter().map(|b| b.count).sum::<u64>(), 500);
        assert!(bars.len() > 5 && bars.len() <= 80);
    }
}
