//! The shapes of users' requests, never their content: which route, how many messages in which
//! roles and of what length, which sampling parameters with which values. A bounded reservoir of
//! them lets the synthetic traffic follow the organic traffic's statistics, so that a miner
//! cannot single out the validator's requests by their shape.
//!
//! A shape holds numbers and flags only: no string a user sent is kept (stop sequences and the
//! `user` field are kept as lengths, and rebuilt from built-in text when a shape is drawn).

use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Number, Value};

use crate::proxy::Route;

/// Shapes kept at most: enough to represent a varied workload, small enough (about 1.5 KB each)
/// to never matter for memory.
pub(crate) const CAPACITY: usize = 4096;

/// Messages kept per shape. A longer conversation keeps its first `MAX_TURNS - 2` messages and
/// its last two; the middle is rebuilt from the last kept pair (see [`Shape::turn`]).
pub(crate) const MAX_TURNS: usize = 32;

/// The scalar parameters a shape keeps with their values (numbers, booleans or null, exactly as
/// sent: `1` and `1.0` are different on the wire, so the `Number` itself is kept).
pub(crate) const SCALARS: [&str; 18] = [
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "seed",
    "stream",
    "logprobs",
    "top_logprobs",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
    "n",
    "echo",
    "ignore_eos",
    "best_of",
    "skip_special_tokens",
];

/// A message's role; anything else (`tool`, `function`) is kept as [`Role::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    System,
    Developer,
    User,
    Assistant,
    Other,
}

/// One message's shape: its role, its length in characters, and whether its content was an
/// array of parts rather than a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Turn {
    pub role: Role,
    pub chars: u32,
    pub parts: bool,
}

/// A scalar parameter's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Null,
    Bool(bool),
    Num(Number),
}

impl Scalar {
    fn of(value: &Value) -> Option<Scalar> {
        match value {
            Value::Null => Some(Scalar::Null),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::Number(n) => Some(Scalar::Num(n.clone())),
            _ => None,
        }
    }

    pub(crate) fn to_value(&self) -> Value {
        match self {
            Scalar::Null => Value::Null,
            Scalar::Bool(b) => Value::Bool(*b),
            Scalar::Num(n) => Value::Number(n.clone()),
        }
    }
}

/// `stop`: one string or a list, kept as lengths (at most four, as OpenAI allows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stop {
    One(u8),
    Many(Vec<u8>),
}

/// The structured parameters a shape keeps, as shapes.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Extras {
    pub stop: Option<Stop>,
    /// `stream_options`: present, and its `include_usage` when that is a boolean.
    pub stream_options: Option<Option<bool>>,
    /// `user`: the length of the caller's id.
    pub user: Option<u8>,
    /// `response_format`: only `{"type": "text"}` and `{"type": "json_object"}` are kept (a
    /// JSON schema is content).
    pub json_object: Option<bool>,
}

/// One request's shape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Shape {
    pub route: Route,
    /// Chat: the number of messages; completions: 1 (the prompt).
    pub messages: u32,
    /// The kept messages (the prompt, for completions); see [`MAX_TURNS`].
    pub turns: Vec<Turn>,
    /// Indexed like [`SCALARS`].
    pub scalars: [Option<Scalar>; SCALARS.len()],
    pub extras: Extras,
}

fn chars(s: &str) -> u32 {
    u32::try_from(s.chars().count()).unwrap_or(u32::MAX)
}

fn short_len(s: &str) -> u8 {
    u8::try_from(s.chars().count()).unwrap_or(u8::MAX)
}

fn turn_of(message: &Value) -> Turn {
    let role = match message.get("role").and_then(Value::as_str) {
        Some("system") => Role::System,
        Some("developer") => Role::Developer,
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        _ => Role::Other,
    };
    let (chars, parts) = match message.get("content") {
        Some(Value::String(s)) => (chars(s), false),
        Some(Value::Array(parts)) => {
            let text = parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).map(chars);
            (text.fold(0u32, u32::saturating_add), true)
        }
        _ => (0, false),
    };
    Turn { role, chars, parts }
}

impl Shape {
    /// The shape of a request as the gateway forwards it (see `request`); fields of another
    /// type than the API's are left out rather than refused, since this never fails a request.
    pub(crate) fn of(route: Route, request: &Map<String, Value>) -> Shape {
        let (messages, turns) = match route {
            Route::Chat => {
                let all = request.get("messages").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
                let turns = if all.len() <= MAX_TURNS {
                    all.iter().map(turn_of).collect()
                } else {
                    all[..MAX_TURNS - 2].iter().chain(&all[all.len() - 2..]).map(turn_of).collect()
                };
                (u32::try_from(all.len()).unwrap_or(u32::MAX), turns)
            }
            Route::Completions => {
                let prompt = request.get("prompt").and_then(Value::as_str).unwrap_or("");
                (1, vec![Turn { role: Role::User, chars: chars(prompt), parts: false }])
            }
        };
        let scalars = SCALARS.map(|name| request.get(name).and_then(Scalar::of));
        Shape { route, messages, turns, scalars, extras: extras_of(request) }
    }

    /// The shape of message `i` of the conversation (`i < self.messages`): kept ones as they
    /// were; the middle of a conversation longer than [`MAX_TURNS`] repeats the last kept pair.
    pub(crate) fn turn(&self, i: usize) -> Turn {
        let count = self.messages as usize;
        let kept = self.turns.len();
        let fallback = Turn { role: Role::User, chars: 0, parts: false };
        if count <= kept || i < kept.saturating_sub(2) {
            return self.turns.get(i).copied().unwrap_or(fallback);
        }
        if i + 2 >= count {
            return kept.checked_sub(count - i).and_then(|k| self.turns.get(k)).copied().unwrap_or(fallback);
        }
        let head = kept.saturating_sub(2);
        let pair = head.saturating_sub(2);
        self.turns.get(pair + (i - head) % 2).copied().unwrap_or(fallback)
    }

    #[cfg(test)]
    pub(crate) fn scalar(&self, name: &str) -> Option<&Scalar> {
        let i = SCALARS.iter().position(|n| *n == name)?;
        self.scalars[i].as_ref()
    }

    pub(crate) fn set_scalar(&mut self, name: &str, value: Option<Scalar>) {
        if let Some(i) = SCALARS.iter().position(|n| *n == name) {
            self.scalars[i] = value;
        }
    }
}

fn extras_of(request: &Map<String, Value>) -> Extras {
    let stop = match request.get("stop") {
        Some(Value::String(s)) => Some(Stop::One(short_len(s))),
        Some(Value::Array(list)) => {
            Some(Stop::Many(list.iter().take(4).filter_map(Value::as_str).map(short_len).collect()))
        }
        _ => None,
    };
    let stream_options = match request.get("stream_options") {
        Some(Value::Object(o)) => Some(o.get("include_usage").and_then(Value::as_bool)),
        _ => None,
    };
    let user = request.get("user").and_then(Value::as_str).map(short_len);
    let json_object = match request.get("response_format").and_then(|f| f.get("type")).and_then(Value::as_str) {
        Some("json_object") => Some(true),
        Some("text") => Some(false),
        _ => None,
    };
    Extras { stop, stream_options, user, json_object }
}

/// The organic shapes seen so far: a uniform sample of every request observed (reservoir
/// sampling), so that old and new traffic are both represented, in at most `capacity` shapes.
pub(crate) struct Shapes {
    inner: Mutex<Reservoir>,
}

struct Reservoir {
    capacity: usize,
    shapes: Vec<Shape>,
    seen: u64,
    rng: StdRng,
}

impl Default for Shapes {
    fn default() -> Self {
        Shapes::new(CAPACITY, StdRng::from_entropy())
    }
}

impl Shapes {
    /// A reservoir of at most `capacity` shapes; `rng` picks which are replaced (seeded in tests).
    pub(crate) fn new(capacity: usize, rng: StdRng) -> Shapes {
        Shapes { inner: Mutex::new(Reservoir { capacity: capacity.max(1), shapes: Vec::new(), seen: 0, rng }) }
    }

    /// Keeps the shape of an organic request the gateway accepted. Called on the request path:
    /// the shape is taken before the lock, which is held for a few instructions.
    pub(crate) fn observe(&self, route: Route, request: &Map<String, Value>) {
        self.keep(Shape::of(route, request));
    }

    fn keep(&self, shape: Shape) {
        let mut r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        r.seen += 1;
        if r.shapes.len() < r.capacity {
            r.shapes.push(shape);
            return;
        }
        // Algorithm R: the n-th request replaces a kept one with probability capacity / n.
        let seen = r.seen;
        let j = r.rng.gen_range(0..seen);
        if let Ok(j) = usize::try_from(j)
            && j < r.capacity
        {
            r.shapes[j] = shape;
        }
    }

    /// How many organic requests were observed (not how many are kept).
    pub(crate) fn seen(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).seen
    }

    /// One kept shape, uniformly; `None` before any organic request.
    pub(crate) fn sample(&self, rng: &mut impl Rng) -> Option<Shape> {
        let r = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if r.shapes.is_empty() {
            return None;
        }
        r.shapes.get(rng.gen_range(0..r.shapes.len())).cloned()
    }

    #[cfg(test)]
    pub(crate) fn kept(&self) -> Vec<Shape> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).shapes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        let Value::Object(m) = v else { panic!("an object") };
        m
    }

    #[test]
    fn a_shape_keeps_lengths_roles_and_parameters_but_no_text() {
        let request = map(json!({"model": "m", "messages": [
            {"role": "system", "content": "secret system"},
            {"role": "user", "content": [{"type": "text", "text": "abc"}, {"type": "text", "text": "de"}]},
            {"role": "assistant", "content": null},
            {"role": "tool", "content": "x"}],
            "temperature": 1, "top_p": 0.95, "stream": true, "stop": ["\n", "User:"], "user": "alice",
            "stream_options": {"include_usage": true}, "response_format": {"type": "json_object"}, "seed": null}));
        let shape = Shape::of(Route::Chat, &request);
        assert_eq!(shape.messages, 4);
        let roles: Vec<Role> = shape.turns.iter().map(|t| t.role).collect();
        assert_eq!(roles, [Role::System, Role::User, Role::Assistant, Role::Other]);
        assert_eq!(shape.turns[0].chars, 13);
        assert_eq!((shape.turns[1].chars, shape.turns[1].parts), (5, true));
        assert_eq!(shape.scalar("temperature").map(Scalar::to_value), Some(json!(1)));
        assert_eq!(shape.scalar("seed"), Some(&Scalar::Null));
        assert_eq!(shape.scalar("max_tokens"), None);
        assert_eq!(shape.extras.stop, Some(Stop::Many(vec![1, 5])));
        assert_eq!(shape.extras.user, Some(5));
        assert_eq!(shape.extras.stream_options, Some(Some(true)));
        assert_eq!(shape.extras.json_object, Some(true));
        // Nothing the user wrote survives in the shape.
        let kept = format!("{shape:?}");
        for text in ["secret", "alice", "User:", "abc"] {
            assert!(!kept.contains(text), "{kept}");
        }
    }

    #[test]
    fn a_long_conversation_keeps_its_head_and_tail_and_rebuilds_its_middle() {
        let messages: Vec<Value> = (0..101)
            .map(|i| {
                let role = if i == 0 {
                    "system"
                } else if i % 2 == 1 {
                    "user"
                } else {
                    "assistant"
                };
                json!({"role": role, "content": "x".repeat(i + 1)})
            })
            .collect();
        let shape = Shape::of(Route::Chat, &map(json!({"messages": messages})));
        assert_eq!((shape.messages, shape.turns.len()), (101, MAX_TURNS));
        assert_eq!(shape.turn(0).role, Role::System);
        assert_eq!(shape.turn(29).chars, 30);
        assert_eq!(shape.turn(100).chars, 101);
        assert_eq!(shape.turn(99).chars, 100);
        let middle: Vec<Role> = (30..99).map(|i| shape.turn(i).role).collect();
        assert!(middle.windows(2).all(|w| w[0] != w[1]), "roles alternate in the rebuilt middle: {middle:?}");
        assert_eq!(shape.turn(98).role, Role::Assistant, "the rebuilt middle leads into the kept tail");
    }

    #[test]
    fn the_reservoir_is_bounded_and_represents_old_and_new_traffic() {
        let shapes = Shapes::new(200, StdRng::seed_from_u64(1));
        assert!(shapes.sample(&mut StdRng::seed_from_u64(2)).is_none());
        for i in 0..20_000 {
            let route = if i < 10_000 { Route::Chat } else { Route::Completions };
            shapes.observe(route, &map(json!({"messages": [{"role": "user", "content": "hi"}], "prompt": "p"})));
        }
        let kept = shapes.kept();
        assert_eq!((kept.len(), shapes.seen()), (200, 20_000));
        let old = kept.iter().filter(|s| s.route == Route::Chat).count();
        // Binomial(200, 0.5): 100 ± 7 (one standard deviation); ± 35 is five.
        assert!((65..=135).contains(&old), "{old} of 200 from the first half");
    }
}
