//! Can a miner tell synthetic requests from organic ones by their fields? A varied organic
//! workload (its own generator, deliberately unlike the prior: longer conversations, longer
//! prompts, its own temperature and `max_tokens` mix) goes through the observer `proxy` uses;
//! synthetic requests are drawn next; a decision tree is trained on half of the labelled mix
//! and scored on the other half.
//!
//! Chance is 50 %. With 2,000 held-out requests one standard error of the accuracy is
//! sqrt(0.25 / 2000) = 1.1 %, so the allowed margin, 5 points either way, is four and a half
//! standard errors, while any real tell fails it: the same tree tells the prior alone from this
//! workload with ~92 % accuracy and the old fixed prompts with 100 %.
//!
//! Against the very sample the reservoir saw, accuracy sits slightly *below* chance (~48.5 %
//! over seeds): a synthetic request is a jittered copy of one organic request, and when the two
//! land in different halves the tree learns the copy's region for the wrong label. Against an
//! unseen organic sample it sits slightly above (~51.5 %), as exact copies of the seen requests
//! do: the reservoir is a finite sample of the workload. Both are checked.

use rand::Rng;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::{Map, Value, json};

use super::draw;
use crate::proxy::Route;
use crate::shapes::Shapes;

/// Requests of each kind; half of the mix trains the tree, half tests it.
const REQUESTS: usize = 2000;
/// The test fails when held-out accuracy is MARGIN or more away from 0.5, either way.
const MARGIN: f64 = 0.05;
const DEPTH: usize = 6;
const MIN_LEAF: usize = 10;

fn words(rng: &mut impl Rng, chars: usize) -> String {
    const VOCABULARY: &[&str] = &["the", "data", "model", "please", "report", "why", "and", "quickly", "server"];
    let mut text = String::new();
    while text.len() < chars {
        text.push_str(VOCABULARY[rng.gen_range(0..VOCABULARY.len())]);
        text.push(' ');
    }
    text.truncate(chars);
    text
}

/// Words of a log-normal length (median and sigma of its logarithm).
fn text(rng: &mut impl Rng, median: f64, sigma: f64) -> String {
    let chars = lognormal(rng, median, sigma);
    words(rng, chars)
}

fn lognormal(rng: &mut impl Rng, median: f64, sigma: f64) -> usize {
    let (u, v): (f64, f64) = (1.0 - rng.r#gen::<f64>(), rng.r#gen());
    let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
    ((median * (sigma * z).exp()) as usize).clamp(1, 20_000)
}

/// The organic workload: a support bot's users, say. Unlike the prior on purpose.
fn organic(rng: &mut impl Rng) -> (Route, Map<String, Value>) {
    let mut request = Map::new();
    request.insert("model".into(), json!("m"));
    let route = if rng.gen_bool(0.1) { Route::Completions } else { Route::Chat };
    if route == Route::Completions {
        request.insert("prompt".into(), json!(text(rng, 900.0, 0.6)));
    } else {
        let mut messages = Vec::new();
        if rng.gen_bool(0.7) {
            messages.push(json!({"role": "system", "content": text(rng, 900.0, 0.5)}));
        }
        for k in 0..rng.gen_range(1..=10) {
            if k > 0 {
                messages.push(json!({"role": "assistant", "content": text(rng, 1200.0, 0.5)}));
            }
            messages.push(json!({"role": "user", "content": text(rng, 300.0, 0.8)}));
        }
        request.insert("messages".into(), json!(messages));
    }
    match rng.gen_range(0..10) {
        0..=3 => request.insert("temperature".into(), json!(0.2)),
        4..=7 => request.insert("temperature".into(), json!(1)),
        _ => None,
    };
    if rng.gen_bool(0.8) {
        request.insert("max_tokens".into(), json!([256, 512, 2048][rng.gen_range(0..3)]));
    }
    if rng.gen_bool(0.5) {
        request.insert("top_p".into(), json!(0.9));
    }
    if rng.gen_bool(0.8) {
        request.insert("stream".into(), json!(true));
    }
    if rng.gen_bool(0.1) {
        request.insert("stop".into(), json!(["\n\nUser:"]));
    }
    (route, request)
}

fn chars(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::String(s)) => s.len() as f64,
        Some(Value::Array(parts)) => parts.iter().map(|p| chars(p.get("text"))).sum(),
        _ => 0.0,
    }
}

fn number(v: Option<&Value>) -> f64 {
    v.and_then(Value::as_f64).unwrap_or(-1.0)
}

/// What a miner sees of a request's shape, as numbers.
fn features(request: &Map<String, Value>) -> Vec<f64> {
    let empty = Vec::new();
    let messages = request.get("messages").and_then(Value::as_array).unwrap_or(&empty);
    let of_role =
        |role: &'static str| messages.iter().filter(move |m| m["role"] == role).map(|m| chars(m.get("content")));
    let assistants: Vec<f64> = of_role("assistant").collect();
    let total = messages.iter().map(|m| chars(m.get("content"))).sum::<f64>() + chars(request.get("prompt"));
    let max_tokens = request.get("max_tokens").or(request.get("max_completion_tokens"));
    vec![
        f64::from(u8::from(request.contains_key("messages"))),
        messages.len() as f64,
        of_role("system").count() as f64,
        total.ln_1p(),
        of_role("user").next_back().unwrap_or(0.0).ln_1p(),
        of_role("system").sum::<f64>().ln_1p(),
        (assistants.iter().sum::<f64>() / assistants.len().max(1) as f64).ln_1p(),
        max_tokens.and_then(Value::as_f64).map_or(-1.0, f64::ln_1p),
        number(request.get("temperature")),
        number(request.get("top_p")),
        request.get("stream").and_then(Value::as_bool).map_or(-1.0, |s| f64::from(u8::from(s))),
        request.len() as f64,
        f64::from(u8::from(request.contains_key("seed"))),
        f64::from(u8::from(request.contains_key("stop"))),
    ]
}

/// A depth-limited classification tree (CART, Gini impurity).
enum Tree {
    Leaf(bool),
    Split { feature: usize, threshold: f64, below: Box<Tree>, above: Box<Tree> },
}

type Sample = (Vec<f64>, bool);

fn gini(positive: usize, n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let p = positive as f64 / n as f64;
    2.0 * p * (1.0 - p) * n as f64
}

/// The split of `samples` (feature, threshold) with the least impurity, if any improves on none.
fn best_split(samples: &[&Sample]) -> Option<(usize, f64)> {
    let n = samples.len();
    let positive = samples.iter().filter(|s| s.1).count();
    let mut best = (gini(positive, n) - 1e-9, None);
    for feature in 0..samples[0].0.len() {
        let mut sorted: Vec<&Sample> = samples.to_vec();
        sorted.sort_by(|a, b| a.0[feature].total_cmp(&b.0[feature]));
        let mut left_positive = 0;
        for i in 1..n {
            left_positive += usize::from(sorted[i - 1].1);
            let (low, high) = (sorted[i - 1].0[feature], sorted[i].0[feature]);
            if low == high || i < MIN_LEAF || n - i < MIN_LEAF {
                continue;
            }
            let impurity = gini(left_positive, i) + gini(positive - left_positive, n - i);
            if impurity < best.0 {
                best = (impurity, Some((feature, (low + high) / 2.0)));
            }
        }
    }
    best.1
}

fn train(samples: &[&Sample], depth: usize) -> Tree {
    let positive = samples.iter().filter(|s| s.1).count();
    let majority = Tree::Leaf(2 * positive >= samples.len());
    if depth == 0 || positive == 0 || positive == samples.len() || samples.len() < 2 * MIN_LEAF {
        return majority;
    }
    let Some((feature, threshold)) = best_split(samples) else { return majority };
    let (below, above): (Vec<&Sample>, Vec<&Sample>) = samples.iter().partition(|s| s.0[feature] <= threshold);
    Tree::Split {
        feature,
        threshold,
        below: Box::new(train(&below, depth - 1)),
        above: Box::new(train(&above, depth - 1)),
    }
}

impl Tree {
    fn predict(&self, x: &[f64]) -> bool {
        match self {
            Tree::Leaf(label) => *label,
            Tree::Split { feature, threshold, below, above } => {
                if x[*feature] <= *threshold {
                    below.predict(x)
                } else {
                    above.predict(x)
                }
            }
        }
    }
}

/// Held-out accuracy of a tree telling `synthetic` (true) from `organic` (false).
fn held_out_accuracy(organic: &[Map<String, Value>], synthetic: &[Map<String, Value>], seed: u64) -> f64 {
    let mut samples: Vec<Sample> = organic.iter().map(|r| (features(r), false)).collect();
    samples.extend(synthetic.iter().map(|r| (features(r), true)));
    samples.shuffle(&mut StdRng::seed_from_u64(seed));
    let (training, testing) = samples.split_at(samples.len() / 2);
    let tree = train(&training.iter().collect::<Vec<_>>(), DEPTH);
    let right = testing.iter().filter(|(x, label)| tree.predict(x) == *label).count();
    right as f64 / testing.len() as f64
}

fn settings() -> crate::Settings {
    serde_json::from_value(json!({"model": "m", "max_tokens": 4096})).expect("settings")
}

/// The organic workload, observed as `proxy` observes users' requests when `shapes` is given.
fn workload(seed: u64, shapes: Option<&Shapes>) -> Vec<Map<String, Value>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..REQUESTS)
        .map(|_| {
            let (route, request) = organic(&mut rng);
            let request = forwarded(route, request);
            if let Some(shapes) = shapes {
                shapes.observe(route, &request);
            }
            request
        })
        .collect()
}

/// What a miner receives of a request: the form the gateway's schema writes.
fn forwarded(route: Route, request: Map<String, Value>) -> Map<String, Value> {
    crate::request::check(route, request, &settings().limits()).expect("a valid request").into_body()
}

fn synthetic(shapes: &Shapes) -> Vec<Map<String, Value>> {
    let (settings, mut rng) = (settings(), StdRng::seed_from_u64(12));
    (0..REQUESTS)
        .map(|_| {
            let (route, request) = draw(&settings, shapes, &mut rng);
            forwarded(route, request)
        })
        .collect()
}

/// The synthetic requests of before: 16 fixed prompts, one system prompt, `max_tokens` 16..=64.
fn fixed_prompts(rng: &mut impl Rng) -> Map<String, Value> {
    let prompt = format!("Fixed prompt number {}.", rng.gen_range(0..16));
    let mut request = Map::new();
    request.insert("model".into(), json!("m"));
    if rng.gen_bool(0.8) {
        let mut messages = vec![json!({"role": "user", "content": prompt})];
        if rng.gen_bool(0.5) {
            messages.insert(0, json!({"role": "system", "content": "You are a helpful assistant."}));
        }
        request.insert("messages".into(), json!(messages));
    } else {
        request.insert("prompt".into(), json!(prompt));
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
    request
}

fn reservoir() -> Shapes {
    Shapes::new(crate::shapes::CAPACITY, StdRng::seed_from_u64(10))
}

#[test]
fn after_organic_traffic_a_classifier_cannot_tell_synthetic_requests_from_it() {
    let shapes = reservoir();
    let organic = workload(11, Some(&shapes));
    let synthetic = synthetic(&shapes);
    let accuracy = held_out_accuracy(&organic, &synthetic, 13);
    eprintln!("synthetic against the organic sample it follows: held-out accuracy {accuracy:.4}");
    // Far below chance would be a tell as well (invert the tree's answers).
    assert!((0.5 - MARGIN..0.5 + MARGIN).contains(&accuracy), "a depth-{DEPTH} tree: accuracy {accuracy:.4}");
    // Against organic requests the reservoir never saw: a synthetic request is a copy of one of
    // 2,000 shapes, so a tree may learn where those are (exact copies of the organic requests
    // score the same, ~52 %, over seeds); still under the margin.
    let unseen = workload(14, None);
    let accuracy = held_out_accuracy(&unseen, &synthetic, 13);
    eprintln!("synthetic against an unseen organic sample: held-out accuracy {accuracy:.4}");
    assert!((0.5 - MARGIN..0.5 + MARGIN).contains(&accuracy), "a depth-{DEPTH} tree, unseen: {accuracy:.4}");
}

#[test]
fn the_same_classifier_tells_the_prior_and_the_old_fixed_prompts_from_that_traffic() {
    let organic = workload(11, Some(&reservoir()));
    // No organic traffic observed: every synthetic request comes from the prior.
    let prior = synthetic(&reservoir());
    let accuracy = held_out_accuracy(&organic, &prior, 13);
    eprintln!("the prior against organic traffic: held-out accuracy {accuracy:.4}");
    assert!(accuracy > 0.85, "the tree should separate the prior from this workload: accuracy {accuracy:.4}");
    let mut rng = StdRng::seed_from_u64(15);
    let old: Vec<_> = (0..REQUESTS).map(|_| fixed_prompts(&mut rng)).collect();
    let accuracy = held_out_accuracy(&organic, &old, 13);
    eprintln!("the old fixed prompts against organic traffic: held-out accuracy {accuracy:.4}");
    assert!(accuracy > 0.95, "the old synthetic requests were recognisable: accuracy {accuracy:.4}");
}
