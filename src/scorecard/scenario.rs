//! A scenario's part of the scorecard: per-action intended vs actual counts and success
//! rates, the seed's flat `payment_success`, and a funnel check of each split (realized ratio
//! against the declared one, flagged when outside sampling error). The scenario stage fills in
//! what it planned ([`ScenarioCard`] with the intended counts); this fills in what happened,
//! from the run's per-endpoint figures.

use serde::{Deserialize, Serialize};

use super::model::Scorecard;
use super::threshold::Threshold;

/// |z| beyond this flags a split (two-sided p < 0.001 under the binomial): with thousands of
/// actors a correct split flags about one run in a thousand, a wrong one almost always.
pub const FUNNEL_Z: f64 = 3.29;
/// The action whose success the seed reports as `payment_success`.
pub const PAYMENT_ACTION: &str = "PAY";

/// What a scenario planned and what its run did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioCard {
    /// The scenario's name.
    pub name: String,
    /// `synthetic` or `trace`.
    pub kind: String,
    /// Actors generated (synthetic).
    pub actors: u64,
    /// The seed of the random draws (synthetic).
    pub seed: Option<u64>,
    /// The arrival process (synthetic).
    pub arrival: Option<String>,
    /// The speed-up the run used.
    pub speed: f64,
    /// Per action, in script order.
    pub actions: Vec<ActionCard>,
    /// One check per split.
    pub funnel: Vec<FunnelCheck>,
    /// The scenario's faults, on its own clock (the `phases` show them on the run clock).
    pub faults: Vec<ScenarioFault>,
}

/// One action's figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ActionCard {
    pub action: String,
    /// `METHOD /template`; `None` for an action that sends nothing (`ABANDON`).
    pub endpoint: Option<String>,
    /// Actors the generator sent down this step.
    pub intended: u64,
    /// Requests recorded for it (0 for an action that sends nothing).
    pub actual: u64,
    /// Requests that succeeded (status < 400).
    pub succeeded: u64,
    /// `succeeded` as % of `actual`; `None` when it sends nothing.
    pub success_rate: Option<f64>,
}

/// A split: the actors reaching it and how they divided.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FunnelCheck {
    /// The split's first step (`script[2]`).
    pub field: String,
    /// Actors that reached it.
    pub reached: u64,
    pub branches: Vec<FunnelBranch>,
    /// True when any branch is outside sampling error.
    pub flagged: bool,
}

/// One branch of a split.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FunnelBranch {
    pub action: String,
    /// The ratio the script declares.
    pub declared: f64,
    /// Actors that took it: requests recorded for an action that sends one, the generator's
    /// count for one that sends nothing.
    pub count: u64,
    /// `count / reached`.
    pub realized: f64,
    /// Binomial z-score of `count` against `reached × declared` (clamped to ±1000).
    pub z: f64,
    /// |z| > [`FUNNEL_Z`].
    pub flagged: bool,
}

/// A fault of the scenario.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScenarioFault {
    pub action: String,
    /// Start on the scenario's clock, s.
    pub at_s: f64,
    /// Length on the scenario's clock, s.
    pub for_s: f64,
}

fn round4(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

/// Binomial z of `k` successes in `n` trials against probability `p`, clamped.
pub fn binomial_z(k: u64, n: u64, p: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let (n, k) = (n as f64, k as f64);
    let var = n * p * (1.0 - p);
    let z = if var <= 0.0 {
        if (k - n * p).abs() < 0.5 {
            0.0
        } else {
            f64::INFINITY.copysign(k - n * p)
        }
    } else {
        (k - n * p) / var.sqrt()
    };
    round4(z.clamp(-1000.0, 1000.0))
}

/// Fills in a planned [`ScenarioCard`] from the run's endpoints, sets `payment_success`,
/// attaches it to the scorecard and judges `thresholds` again (the notes then name any
/// flagged split beside what failed).
pub fn attach(card: &mut Scorecard, mut sc: ScenarioCard, thresholds: &[Threshold]) {
    let by_endpoint = |ep: &str| card.endpoints.iter().find(|e| e.endpoint == ep);
    for a in &mut sc.actions {
        if let Some(ep) = a.endpoint.as_deref() {
            let (actual, ok) =
                by_endpoint(ep).map_or((0, 0), |e| (e.requests, e.requests - e.error_count));
            a.actual = actual;
            a.succeeded = ok;
            a.success_rate = Some(if actual == 0 {
                0.0
            } else {
                round4(ok as f64 * 100.0 / actual as f64)
            });
        }
    }
    for f in &mut sc.funnel {
        for b in &mut f.branches {
            if let Some(a) = sc.actions.iter().find(|a| a.action == b.action)
                && a.endpoint.is_some()
            {
                b.count = a.actual;
            }
            b.realized = if f.reached == 0 {
                0.0
            } else {
                round4(b.count as f64 / f.reached as f64)
            };
            b.z = binomial_z(b.count, f.reached, b.declared);
            b.flagged = b.z.abs() > FUNNEL_Z;
        }
        f.flagged = f.branches.iter().any(|b| b.flagged);
    }
    card.payment_success = payment_success(&sc);
    card.scenario = Some(sc);
    super::build::judge(card, thresholds);
}

/// % of the actors who reached the payment step (its split, when it is in one) whose PAY
/// succeeded.
fn payment_success(sc: &ScenarioCard) -> Option<f64> {
    let pay = sc.actions.iter().find(|a| a.action == PAYMENT_ACTION)?;
    let reached = sc
        .funnel
        .iter()
        .find(|f| f.branches.iter().any(|b| b.action == PAYMENT_ACTION))
        .map_or(pay.intended, |f| f.reached);
    (reached > 0).then(|| round4(pay.succeeded as f64 * 100.0 / reached as f64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scorecard::EndpointCard;

    #[test]
    fn z_scores_flag_only_what_sampling_cannot_explain() {
        assert_eq!(binomial_z(9800, 10_000, 0.98), 0.0);
        assert!(binomial_z(9790, 10_000, 0.98).abs() < 1.0);
        assert!(binomial_z(9500, 10_000, 0.98) < -FUNNEL_Z);
        assert_eq!(binomial_z(5, 5, 1.0), 0.0);
        assert_eq!(binomial_z(4, 5, 1.0), -1000.0);
    }

    #[test]
    fn payment_success_counts_actors_reaching_the_split() {
        let mut card = Scorecard {
            endpoints: vec![EndpointCard {
                endpoint: "POST /pay".into(),
                requests: 980,
                error_count: 5,
                ..Default::default()
            }],
            thresholds: vec![],
            ..Default::default()
        };
        let sc = ScenarioCard {
            actions: vec![
                ActionCard {
                    action: "PAY".into(),
                    endpoint: Some("POST /pay".into()),
                    intended: 980,
                    ..Default::default()
                },
                ActionCard {
                    action: "ABANDON".into(),
                    intended: 20,
                    ..Default::default()
                },
            ],
            funnel: vec![FunnelCheck {
                field: "script[2]".into(),
                reached: 1000,
                branches: vec![
                    FunnelBranch {
                        action: "PAY".into(),
                        declared: 0.98,
                        ..Default::default()
                    },
                    FunnelBranch {
                        action: "ABANDON".into(),
                        declared: 0.02,
                        count: 20,
                        ..Default::default()
                    },
                ],
                flagged: false,
            }],
            ..Default::default()
        };
        attach(&mut card, sc, &[Threshold::parse("success>=50%").unwrap()]);
        assert_eq!(card.payment_success, Some(97.5));
        let sc = card.scenario.as_ref().unwrap();
        assert_eq!(sc.actions[0].actual, 980);
        assert_eq!(sc.actions[0].success_rate, Some(99.4898));
        assert_eq!(sc.funnel[0].branches[0].realized, 0.98);
        assert!(!sc.funnel[0].flagged);
    }
}
