//! Built-in configs: `--preset hms`, the services of the seed scenario.

use serde_json::json;

use super::StubError;
use super::config::{FaultConfig, LatencyConfig, RouteConfig, StubConfig};

/// The names `--preset` accepts.
pub const PRESETS: &[&str] = &["hms"];

/// The preset called `name`.
pub fn preset(name: &str) -> Result<StubConfig, StubError> {
    match name {
        "hms" => Ok(hms()),
        other => Err(StubError::Usage(format!(
            "no preset `{other}` (presets: {})",
            PRESETS.join(", ")
        ))),
    }
}

fn uniform(min_ms: f64, max_ms: f64) -> Option<LatencyConfig> {
    Some(LatencyConfig::Uniform { min_ms, max_ms })
}

/// The seed scenario's services: login, premium, payment and the ACH service, with the
/// `ACH_DOWN` fault defined on `POST /ach/transfer` but inactive until scheduled
/// ([`StubConfig::schedule_fault`], `--fault ACH_DOWN@15m+5m`) or switched on
/// (`POST /__esr/faults`).
pub fn hms() -> StubConfig {
    let mut login = RouteConfig::new("POST", "/login");
    login.latency = uniform(20.0, 60.0);
    // The token has the form of esr's own token pseudonyms (`esr_` and hex), so scanning the
    // sandbox's answers for personal data does not count it as a leaked secret.
    login.body = Some(json!({"token": "esr_5a4db0c5e55a7d0c", "expires_in": 3600}));

    let mut premium = RouteConfig::new("POST", "/fetch_premium");
    premium.latency = uniform(50.0, 250.0);
    premium.body = Some(json!({"premium": 74200}));

    let mut pay = RouteConfig::new("POST", "/pay");
    pay.latency = uniform(80.0, 300.0);
    pay.body = Some(json!({"status": "PAID"}));
    pay.error_rate = 0.005;
    pay.error_status = 502;

    let mut ach = RouteConfig::new("POST", "/ach/transfer");
    ach.latency = uniform(30.0, 120.0);
    ach.body = Some(json!({"status": "ACCEPTED"}));

    let mut down = FaultConfig::named("ACH_DOWN");
    down.route = Some("POST /ach/transfer".into());
    down.status = 503;

    StubConfig {
        catch_all: true,
        seed: 0,
        routes: vec![login, premium, pay, ach],
        faults: vec![down],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hms_is_valid_and_schedulable() {
        let mut c = hms();
        c.validate("<preset hms>").unwrap();
        assert_eq!(c.fault_names(), vec!["ACH_DOWN".to_string()]);
        c.schedule_fault(
            "ACH_DOWN",
            std::time::Duration::from_secs(900),
            std::time::Duration::from_secs(300),
        )
        .unwrap();
        c.validate("<preset hms>").unwrap();
        assert!(preset("nope").is_err());
    }
}
