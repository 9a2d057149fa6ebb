//! Prometheus metrics at `/metrics`: requests by route pattern, method and status with latency
//! histograms, ledger commands by outcome code, verifications by outcome, standardisation time
//! by verdict, WeChat Pay order queries by answer, refunds by outcome, and the projections' lag,
//! measured when scraped. One registry per running service, no global state.

use std::sync::Arc;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The service's metrics; clones share one registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Registered>,
}

impl std::ops::Deref for Metrics {
    type Target = Registered;
    fn deref(&self) -> &Registered {
        &self.inner
    }
}

pub struct Registered {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    commands: IntCounterVec,
    verifications: IntCounterVec,
    standardisations: HistogramVec,
    order_queries: IntCounterVec,
    refunds: IntCounterVec,
    projection_lag: IntGauge,
}

/// Latency buckets in seconds: a millisecond to ten seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Registered::new()),
        }
    }

    /// Every metric in the Prometheus text format, with the projections' lag set to `lag`.
    pub fn render(&self, lag: Option<i64>) -> Result<(String, Vec<u8>), prometheus::Error> {
        if let Some(lag) = lag {
            self.projection_lag.set(lag);
        }
        let encoder = TextEncoder::new();
        let mut text = Vec::new();
        encoder.encode(&self.registry.gather(), &mut text)?;
        Ok((encoder.format_type().to_string(), text))
    }
}

impl Registered {
    fn new() -> Self {
        let registry =
            Registry::new_custom(Some("photo_ledger".into()), None).expect("a valid metric prefix");
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered"),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Time to answer a request")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["route", "method"],
        )
        .expect("valid metric");
        let commands = IntCounterVec::new(
            Opts::new("ledger_commands_total", "Capture commands by outcome code"),
            &["command", "outcome"],
        )
        .expect("valid metric");
        let verifications = IntCounterVec::new(
            Opts::new(
                "verifications_total",
                "Eligibility verifications by outcome code",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let standardisations = HistogramVec::new(
            HistogramOpts::new(
                "photo_standardisation_seconds",
                "Time to standardise a photo, waiting for the pipeline included",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["verdict"],
        )
        .expect("valid metric");
        let order_queries = IntCounterVec::new(
            Opts::new(
                "wechat_pay_order_queries_total",
                "WeChat Pay order queries for payments whose notification did not come, by answer",
            ),
            &["answer"],
        )
        .expect("valid metric");
        let refunds = IntCounterVec::new(
            Opts::new(
                "refunds_total",
                "Refunds recorded, by outcome: requested, refunded or failed",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let projection_lag = IntGauge::new(
            "projection_lag_events",
            "Events the slowest projection has not yet applied",
        )
        .expect("valid metric");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(commands.clone()),
            Box::new(verifications.clone()),
            Box::new(standardisations.clone()),
            Box::new(order_queries.clone()),
            Box::new(refunds.clone()),
            Box::new(projection_lag.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        Self {
            registry,
            requests,
            latency,
            commands,
            verifications,
            standardisations,
            order_queries,
            refunds,
            projection_lag,
        }
    }

    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(seconds);
    }

    /// `outcome` is `ok` or the refusal's stable code.
    pub fn observe_command(&self, command: &str, outcome: &str) {
        self.commands.with_label_values(&[command, outcome]).inc();
    }

    /// `verdict` is `accepted`, `retake`, `refused` or the error code of an unreadable file.
    pub fn observe_standardisation(&self, verdict: &str, seconds: f64) {
        self.standardisations
            .with_label_values(&[verdict])
            .observe(seconds);
    }

    pub fn observe_verification(&self, outcome: &str) {
        self.verifications.with_label_values(&[outcome]).inc();
    }

    /// `answer` is `paid` (recorded by this query), `settled_before`, `unpaid`, `closed` or
    /// `error`.
    pub fn observe_order_query(&self, answer: &str) {
        self.order_queries.with_label_values(&[answer]).inc();
    }

    /// Counts the refund events among those a command recorded (`event` names).
    pub fn observe_recorded(&self, events: &[String]) {
        for event in events {
            let outcome = match event.as_str() {
                "RefundRequested" => "requested",
                "Refunded" => "refunded",
                "RefundFailed" => "failed",
                _ => continue,
            };
            self.refunds.with_label_values(&[outcome]).inc();
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
