//! Reading a `/metrics` page the way Prometheus does, with a real text parser.

use prometheus_parse::{Scrape, Value};

/// The page at `url`, parsed.
pub async fn scrape(url: &str) -> Scrape {
    let response = reqwest::get(url).await.expect("the metrics page answers");
    assert_eq!(response.status(), 200, "{url}");
    let text = response.text().await.expect("the metrics page is text");
    Scrape::parse(text.lines().map(|line| Ok(line.to_owned()))).expect("Prometheus can parse it")
}

/// The sum of the samples named `name` whose labels include all of `labels`
/// (0 when there is none yet); a histogram counts its observations.
pub fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == name)
        .filter(|sample| {
            labels
                .iter()
                .all(|(key, value)| sample.labels.get(key) == Some(*value))
        })
        .map(|sample| match &sample.value {
            Value::Counter(value) | Value::Gauge(value) | Value::Untyped(value) => *value,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |bucket| bucket.count),
            Value::Summary(_) => f64::NAN,
        })
        .sum()
}
