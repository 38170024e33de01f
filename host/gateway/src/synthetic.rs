//! The validator's own traffic: requests from a small built-in prompt set at a configured
//! rate (Poisson arrivals), sent through exactly the same path as users' requests, so that
//! miners see the same shapes, headers and `assay` extension and cannot single them out.

use std::sync::Arc;
use std::time::Duration;

use assay_policy_sdk::RequestKind;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tracing::debug;

use crate::Shared;
use crate::proxy::{Route, forward};

const PROMPTS: &[&str] = &[
    "Explain in two sentences why the sky is blue.",
    "Write a haiku about a lighthouse in winter.",
    "What is the difference between a list and a tuple in Python?",
    "Summarize the plot of Romeo and Juliet in one paragraph.",
    "Give three tips for writing clear commit messages.",
    "Translate 'good morning, how are you?' into French and Spanish.",
    "What causes the seasons on Earth?",
    "Suggest a name for a bakery that specializes in sourdough.",
    "How does a hash map handle collisions?",
    "List the planets of the solar system in order from the sun.",
    "Write a short, polite email declining a meeting invitation.",
    "What is the derivative of x^3 + 2x?",
    "Describe the water cycle for a ten-year-old.",
    "Why do programmers use version control?",
    "Give a one-line definition of entropy.",
    "Write a limerick about a cat who learns to code.",
];

const SYSTEM: &str = "You are a helpful assistant.";

/// One synthetic request, drawn the way users' requests vary.
pub(crate) fn draw(model: &str, rng: &mut impl Rng) -> (Route, Map<String, Value>) {
    let prompt = PROMPTS[rng.gen_range(0..PROMPTS.len())];
    let route = if rng.gen_bool(0.8) { Route::Chat } else { Route::Completions };
    let mut request = Map::new();
    request.insert("model".into(), json!(model));
    match route {
        Route::Chat => {
            let mut messages = Vec::new();
            if rng.gen_bool(0.5) {
                messages.push(json!({"role": "system", "content": SYSTEM}));
            }
            messages.push(json!({"role": "user", "content": prompt}));
            request.insert("messages".into(), Value::Array(messages));
        }
        Route::Completions => {
            request.insert("prompt".into(), json!(prompt));
        }
    }
    request.insert("max_tokens".into(), json!(rng.gen_range(16..=64)));
    if rng.gen_bool(0.5) {
        request.insert("temperature".into(), json!(0.0));
    } else {
        request.insert("temperature".into(), json!(0.7));
        request.insert("top_p".into(), json!(0.95));
        request.insert("seed".into(), json!(rng.gen_range(0..1_000_000u32)));
    }
    if rng.gen_bool(0.5) {
        request.insert("stream".into(), json!(true));
    }
    (route, request)
}

pub(crate) async fn run(shared: Arc<Shared>, mut stopped: watch::Receiver<bool>) {
    let mean = 60.0 / shared.settings.synthetic_per_minute;
    let mut rng = StdRng::from_entropy();
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        // Exponential gaps: arrivals carry no rhythm a miner could lock onto.
        let gap = Duration::from_secs_f64(-mean * (1.0 - rng.r#gen::<f64>()).ln());
        tokio::select! {
            _ = tokio::time::sleep(gap) => {}
            _ = crate::until_stopped(&mut stopped) => break,
        }
        let (route, request) = draw(&shared.settings.model, &mut rng);
        let shared = shared.clone();
        in_flight.spawn(async move {
            match forward(&shared, route, request, RequestKind::Synthetic).await {
                // Read it to the end, as a user would.
                Ok(response) => {
                    let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await;
                }
                Err(e) => debug!(error = ?e, "synthetic request not served"),
            }
        });
        while in_flight.try_join_next().is_some() {}
    }
    // Let the requests already sent finish (and be recorded), as users' requests do.
    while in_flight.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawn_requests_pass_the_gateways_own_checks_and_vary() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut shapes = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let (route, request) = draw("m", &mut rng);
            shapes.insert((route == Route::Chat, request.contains_key("stream"), request["temperature"] == json!(0.0)));
            assert!(request["max_tokens"].as_u64().is_some_and(|n| (16..=64).contains(&n)));
        }
        assert_eq!(shapes.len(), 8, "every combination of route, streaming and greedy appears");
    }
}
