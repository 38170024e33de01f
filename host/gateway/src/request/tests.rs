//! The schema, table-driven: every accepted form with the body a miner receives, and every
//! refused field, type and range with the parameter the error names.

use serde_json::{Value, json};

use super::*;
use crate::error::ApiError;

fn limits() -> Limits<'static> {
    Limits { model: "m", tasks: &[], max_tokens: 100, context_tokens: 1000 }
}

fn run(route: Route, body: &Value) -> Result<Value, RequestError> {
    validate(route, body.to_string().as_bytes(), &limits()).map(|v| Value::Object(v.into_body()))
}

/// `base` with `extra`'s fields added; a field set to the string "<absent>" is removed.
fn with(base: &Value, extra: Value) -> Value {
    let mut body = base.clone();
    if let (Some(map), Value::Object(extra)) = (body.as_object_mut(), extra) {
        for (k, v) in extra {
            if v == "<absent>" {
                map.remove(&k);
            } else {
                map.insert(k, v);
            }
        }
    }
    body
}

fn chat(extra: Value) -> Value {
    with(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}), extra)
}

fn text(extra: Value) -> Value {
    with(&json!({"model": "m", "prompt": "Once upon a time"}), extra)
}

fn says(kind: &str, param: Option<&str>) -> (String, Option<String>) {
    (kind.to_string(), param.map(str::to_string))
}

fn kind_of(e: &RequestError) -> (String, Option<String>) {
    let kind = match e {
        RequestError::Malformed(_) => "malformed",
        RequestError::Unrecognized(_) => "unrecognized",
        RequestError::Invalid { .. } => "invalid",
        RequestError::Unsupported { .. } => "unsupported",
        RequestError::UnknownModel { .. } => "model",
        RequestError::TooLong { .. } => "too-long",
    };
    (kind.to_string(), e.param().map(str::to_string))
}

#[test]
fn every_accepted_form_reaches_the_miner_as_the_schema_writes_it() {
    let parts = json!([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]);
    let hints = json!({"user": "alice", "metadata": {"k": "v"}, "store": false, "service_tier": "auto",
        "parallel_tool_calls": true, "safety_identifier": "s", "prompt_cache_key": "p"});
    let no_ops = json!({"n": 1, "presence_penalty": 0, "frequency_penalty": 0.0, "logit_bias": {}, "tools": [],
        "tool_choice": "none", "response_format": {"type": "text"}, "repetition_penalty": 1, "min_p": 0,
        "min_tokens": 0, "skip_special_tokens": true, "chat_template_kwargs": {}, "add_generation_prompt": true,
        "continue_final_message": false, "add_special_tokens": false, "top_k": -1});
    let nulls = json!({"temperature": null, "top_p": null, "seed": null, "stop": null, "stream": null,
        "max_tokens": null, "tools": null, "logit_bias": null, "user": null, "stream_options": null});
    let everything = json!({"max_tokens": 5, "max_completion_tokens": 100, "temperature": 2, "top_p": 1,
        "top_k": 40, "seed": i64::MAX, "stop": ["a", "b", "c", "d"], "stream": true,
        "stream_options": {"include_usage": true}, "ignore_eos": true, "logprobs": true, "top_logprobs": 20});
    let conversation = json!([
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": "", "name": "bob"},
        {"role": "assistant", "content": "ok", "refusal": null, "tool_calls": [], "function_call": null,
         "audio": null, "annotations": []},
        {"role": "user", "content": parts}]);
    let cases: Vec<(&str, Route, Value, Value)> = vec![
        ("the least chat", Route::Chat, chat(json!({})), chat(json!({}))),
        ("the least completion", Route::Completions, text(json!({})), text(json!({}))),
        (
            "every supported chat option at its limits",
            Route::Chat,
            chat(everything.clone()),
            chat(with(&everything, json!({"temperature": 2.0, "top_p": 1.0}))),
        ),
        ("nulls are absent", Route::Chat, chat(nulls), chat(json!({}))),
        ("hints are dropped", Route::Chat, chat(hints.clone()), chat(json!({}))),
        ("no-op values are dropped", Route::Chat, chat(no_ops), chat(json!({}))),
        ("top_k 0 means off, as -1 does", Route::Chat, chat(json!({"top_k": 0})), chat(json!({}))),
        (
            "greedy, spelled as an integer",
            Route::Chat,
            chat(json!({"temperature": 0})),
            chat(json!({"temperature": 0.0})),
        ),
        (
            "roles (developer is system), empty content, names and replayed assistant fields; parts joined as vLLM does",
            Route::Chat,
            chat(json!({"messages": conversation})),
            chat(json!({"messages": [
                {"role": "system", "content": "Be brief."}, {"role": "user", "content": ""},
                {"role": "assistant", "content": "ok"}, {"role": "user", "content": "a\nb"}]})),
        ),
        (
            "a completion's own options",
            Route::Completions,
            text(json!({"logprobs": 5, "echo": false, "best_of": 1, "max_tokens": 100, "stop": "###", "seed": 0})),
            text(json!({"logprobs": 5, "max_tokens": 100, "stop": "###", "seed": 0})),
        ),
        ("a completion's hints", Route::Completions, text(hints), text(json!({}))),
        (
            "a chat that fits the context with its max_tokens (800 + 64 + 8 + 100 <= 1000)",
            Route::Chat,
            chat(json!({"messages": [{"role": "user", "content": "x".repeat(800)}], "max_tokens": 100})),
            chat(json!({"messages": [{"role": "user", "content": "x".repeat(800)}], "max_tokens": 100})),
        ),
        (
            "a prompt that fits with the default 16 tokens (984 + 16 <= 1000)",
            Route::Completions,
            text(json!({"prompt": "x".repeat(984)})),
            text(json!({"prompt": "x".repeat(984)})),
        ),
    ];
    for (what, route, body, expected) in cases {
        match run(route, &body) {
            Ok(forwarded) => assert_eq!(forwarded, with_default_bound(route, expected), "{what}"),
            Err(e) => panic!("{what}: refused: {e}"),
        }
    }
}

/// `expected` with the completion bound every forwarded body names: the gateway's limit (100
/// here) for a chat that named none, 16 for a completion.
fn with_default_bound(route: Route, mut expected: Value) -> Value {
    let named = ["max_tokens", "max_completion_tokens"].iter().any(|k| expected.get(*k).is_some());
    if !named {
        expected["max_tokens"] = json!(if route == Route::Chat { 100 } else { 16 });
    }
    expected
}

#[test]
fn a_request_without_a_bound_is_sent_with_one() {
    // Within the context: 900 bytes of text, 64 + 8 for the template, leave 28 of 1000.
    let long = chat(json!({"messages": [{"role": "user", "content": "x".repeat(900)}]}));
    assert_eq!(run(Route::Chat, &long).expect("fits")["max_tokens"], json!(28));
    assert_eq!(run(Route::Chat, &chat(json!({}))).expect("valid")["max_tokens"], json!(100));
    assert_eq!(run(Route::Completions, &text(json!({}))).expect("valid")["max_tokens"], json!(16));
    // A bound the user named is kept as named.
    let named = run(Route::Chat, &chat(json!({"max_completion_tokens": 7}))).expect("valid");
    assert_eq!((named.get("max_tokens"), &named["max_completion_tokens"]), (None, &json!(7)));
}

#[test]
fn every_refused_field_type_and_range_names_its_parameter() {
    use Route::{Chat, Completions};
    let tool = json!([{"type": "function", "function": {"name": "f", "parameters": {}}}]);
    let one = |m: Value| json!({"messages": [m]});
    let cases: Vec<(Route, Value, (String, Option<String>))> = vec![
        // The body and the model.
        (Chat, json!([]), says("malformed", None)),
        (Chat, json!("hi"), says("malformed", None)),
        (Chat, chat(json!({"model": "<absent>"})), says("invalid", Some("model"))),
        (Chat, chat(json!({"model": 5})), says("invalid", Some("model"))),
        (Chat, chat(json!({"model": "gpt-4"})), says("model", None)),
        // Messages.
        (Chat, chat(json!({"messages": "<absent>"})), says("invalid", Some("messages"))),
        (Chat, chat(json!({"messages": []})), says("invalid", Some("messages"))),
        (Chat, chat(json!({"messages": "hi"})), says("invalid", Some("messages"))),
        (Chat, chat(json!({"messages": ["hi"]})), says("invalid", Some("messages"))),
        (Chat, chat(one(json!({"content": "x"}))), says("invalid", Some("messages"))),
        (Chat, chat(one(json!({"role": 5, "content": "x"}))), says("invalid", Some("messages"))),
        (Chat, chat(one(json!({"role": "narrator", "content": "x"}))), says("invalid", Some("messages"))),
        (
            Chat,
            chat(one(json!({"role": "tool", "content": "x", "tool_call_id": "c"}))),
            says("unsupported", Some("messages")),
        ),
        (Chat, chat(one(json!({"role": "user"}))), says("invalid", Some("messages"))),
        (Chat, chat(one(json!({"role": "user", "content": null}))), says("invalid", Some("messages"))),
        (Chat, chat(one(json!({"role": "user", "content": 5}))), says("invalid", Some("messages"))),
        (Chat, chat(one(json!({"role": "user", "content": [{"type": "text"}]}))), says("invalid", Some("messages"))),
        (
            Chat,
            chat(one(json!({"role": "user", "content": [{"type": "text", "text": 5}]}))),
            says("invalid", Some("messages")),
        ),
        (
            Chat,
            chat(one(json!({"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}))),
            says("unsupported", Some("messages")),
        ),
        (Chat, chat(one(json!({"role": "user", "content": "x", "foo": 1}))), says("invalid", Some("messages"))),
        (Chat, chat(one(json!({"role": "user", "content": "x", "name": 5}))), says("invalid", Some("messages"))),
        (
            Chat,
            chat(one(json!({"role": "assistant", "content": "x", "tool_calls": [{"id": "c", "type": "function"}]}))),
            says("unsupported", Some("messages")),
        ),
        // The prompt.
        (Completions, text(json!({"prompt": "<absent>"})), says("invalid", Some("prompt"))),
        (Completions, text(json!({"prompt": ""})), says("invalid", Some("prompt"))),
        (Completions, text(json!({"prompt": ["a", "b"]})), says("invalid", Some("prompt"))),
        (Completions, text(json!({"prompt": [1, 2]})), says("invalid", Some("prompt"))),
        (Completions, text(json!({"prompt": 5})), says("invalid", Some("prompt"))),
        // Lengths.
        (Chat, chat(json!({"max_tokens": 0})), says("invalid", Some("max_tokens"))),
        (Chat, chat(json!({"max_tokens": 101})), says("invalid", Some("max_tokens"))),
        (Chat, chat(json!({"max_tokens": -1})), says("invalid", Some("max_tokens"))),
        (Chat, chat(json!({"max_tokens": 1.5})), says("invalid", Some("max_tokens"))),
        (Chat, chat(json!({"max_tokens": 16.0})), says("invalid", Some("max_tokens"))),
        (Completions, text(json!({"max_tokens": "5"})), says("invalid", Some("max_tokens"))),
        (Chat, chat(json!({"max_completion_tokens": 101})), says("invalid", Some("max_completion_tokens"))),
        // Sampling.
        (Chat, chat(json!({"temperature": -0.1})), says("invalid", Some("temperature"))),
        (Chat, chat(json!({"temperature": 2.1})), says("invalid", Some("temperature"))),
        (Chat, chat(json!({"temperature": "0"})), says("invalid", Some("temperature"))),
        (Chat, chat(json!({"top_p": 0})), says("invalid", Some("top_p"))),
        (Chat, chat(json!({"top_p": 1.1})), says("invalid", Some("top_p"))),
        (Completions, text(json!({"top_p": "x"})), says("invalid", Some("top_p"))),
        (Chat, chat(json!({"top_k": "5"})), says("invalid", Some("top_k"))),
        (Chat, chat(json!({"top_k": -2})), says("invalid", Some("top_k"))),
        (Chat, chat(json!({"top_k": 1.5})), says("invalid", Some("top_k"))),
        (Chat, chat(json!({"seed": -1})), says("invalid", Some("seed"))),
        (Chat, chat(json!({"seed": 1.5})), says("invalid", Some("seed"))),
        (Chat, chat(json!({"seed": "1"})), says("invalid", Some("seed"))),
        (Chat, chat(json!({"seed": 1u64 << 63})), says("invalid", Some("seed"))),
        // Stops and streaming.
        (Completions, text(json!({"stop": 5})), says("invalid", Some("stop"))),
        (Completions, text(json!({"stop": [1]})), says("invalid", Some("stop"))),
        (Completions, text(json!({"stop": ["a", "b", "c", "d", "e"]})), says("invalid", Some("stop"))),
        (Completions, text(json!({"stop": ""})), says("invalid", Some("stop"))),
        (Chat, chat(json!({"stop": ["a", ""]})), says("invalid", Some("stop"))),
        (Chat, chat(json!({"stop": "x".repeat(257)})), says("invalid", Some("stop"))),
        (Chat, chat(json!({"stream": "yes"})), says("invalid", Some("stream"))),
        (Chat, chat(json!({"stream": 1})), says("invalid", Some("stream"))),
        (Chat, chat(json!({"stream_options": {"include_usage": true}})), says("invalid", Some("stream_options"))),
        (
            Chat,
            chat(json!({"stream": false, "stream_options": {"include_usage": true}})),
            says("invalid", Some("stream_options")),
        ),
        (
            Chat,
            chat(json!({"stream": true, "stream_options": {"include_usage": "y"}})),
            says("invalid", Some("stream_options")),
        ),
        (Chat, chat(json!({"stream": true, "stream_options": {"foo": true}})), says("invalid", Some("stream_options"))),
        (Chat, chat(json!({"ignore_eos": "true"})), says("invalid", Some("ignore_eos"))),
        // Log-probabilities.
        (Chat, chat(json!({"logprobs": 5})), says("invalid", Some("logprobs"))),
        (Chat, chat(json!({"logprobs": true, "top_logprobs": -1})), says("invalid", Some("top_logprobs"))),
        (Chat, chat(json!({"logprobs": true, "top_logprobs": 21})), says("invalid", Some("top_logprobs"))),
        (Chat, chat(json!({"logprobs": true, "top_logprobs": "1"})), says("invalid", Some("top_logprobs"))),
        (Chat, chat(json!({"top_logprobs": 2})), says("invalid", Some("top_logprobs"))),
        (Completions, text(json!({"logprobs": true})), says("invalid", Some("logprobs"))),
        (Completions, text(json!({"logprobs": 6})), says("invalid", Some("logprobs"))),
        (Completions, text(json!({"logprobs": -1})), says("invalid", Some("logprobs"))),
        // Options that change what the model computes or what the verifier renders.
        (Chat, chat(json!({"n": 2})), says("unsupported", Some("n"))),
        (Completions, text(json!({"n": 0})), says("unsupported", Some("n"))),
        (Chat, chat(json!({"presence_penalty": 0.5})), says("unsupported", Some("presence_penalty"))),
        (Completions, text(json!({"frequency_penalty": -1})), says("unsupported", Some("frequency_penalty"))),
        (Chat, chat(json!({"repetition_penalty": 1.1})), says("unsupported", Some("repetition_penalty"))),
        (Chat, chat(json!({"logit_bias": {"42": 100}})), says("unsupported", Some("logit_bias"))),
        (Chat, chat(json!({"min_p": 0.1})), says("unsupported", Some("min_p"))),
        (Chat, chat(json!({"min_tokens": 5})), says("unsupported", Some("min_tokens"))),
        (Chat, chat(json!({"skip_special_tokens": false})), says("unsupported", Some("skip_special_tokens"))),
        (Chat, chat(json!({"tools": tool})), says("unsupported", Some("tools"))),
        (Chat, chat(json!({"tool_choice": "auto"})), says("unsupported", Some("tool_choice"))),
        (Chat, chat(json!({"functions": tool})), says("unsupported", Some("functions"))),
        (Chat, chat(json!({"function_call": "auto"})), says("unsupported", Some("function_call"))),
        (Chat, chat(json!({"response_format": {"type": "json_object"}})), says("unsupported", Some("response_format"))),
        (Chat, chat(json!({"chat_template": "{{ messages }}"})), says("unsupported", Some("chat_template"))),
        (
            Chat,
            chat(json!({"chat_template_kwargs": {"enable_thinking": true}})),
            says("unsupported", Some("chat_template_kwargs")),
        ),
        (Chat, chat(json!({"add_generation_prompt": false})), says("unsupported", Some("add_generation_prompt"))),
        (Chat, chat(json!({"continue_final_message": true})), says("unsupported", Some("continue_final_message"))),
        (Chat, chat(json!({"documents": [{"text": "d"}]})), says("unsupported", Some("documents"))),
        (Completions, text(json!({"echo": true})), says("unsupported", Some("echo"))),
        (Completions, text(json!({"best_of": 2})), says("unsupported", Some("best_of"))),
        (Completions, text(json!({"suffix": "x"})), says("unsupported", Some("suffix"))),
        // Fields of the other route, of no route, and the validator's own extension.
        (Chat, chat(json!({"echo": false})), says("unrecognized", None)),
        (Chat, chat(json!({"prompt": "x"})), says("unrecognized", None)),
        (Completions, text(json!({"messages": []})), says("unrecognized", None)),
        (Completions, text(json!({"max_completion_tokens": 5})), says("unrecognized", None)),
        (Chat, chat(json!({"foo": 1})), says("unrecognized", None)),
        (Chat, chat(json!({"guided_json": {}})), says("unrecognized", None)),
        (Chat, chat(json!({"assay": {"request_id": "r", "nonce": "n", "commit": false}})), says("unrecognized", None)),
        // Hints are dropped, but only when well-formed.
        (Chat, chat(json!({"user": 5})), says("invalid", Some("user"))),
        (Chat, chat(json!({"store": "yes"})), says("invalid", Some("store"))),
        (Completions, text(json!({"metadata": "x"})), says("invalid", Some("metadata"))),
        // The context: text counted at one token per byte, with the template's share.
        (
            Chat,
            chat(json!({"messages": [{"role": "user", "content": "x".repeat(850)}], "max_tokens": 100})),
            says("too-long", Some("messages")),
        ),
        (Completions, text(json!({"prompt": "x".repeat(985)})), says("too-long", Some("prompt"))),
        (Completions, text(json!({"prompt": "x".repeat(950), "max_tokens": 51})), says("too-long", Some("prompt"))),
    ];
    let mut accepted = Vec::new();
    for (route, body, expected) in cases {
        match run(route, &body) {
            Ok(_) => accepted.push(format!("{route:?} {body}")),
            Err(e) => {
                assert_eq!(kind_of(&e), expected, "{route:?} {body}: {e}");
                assert!(!e.to_string().is_empty());
            }
        }
    }
    assert!(accepted.is_empty(), "accepted, and so sent to a miner:\n{}", accepted.join("\n"));
}

#[test]
fn what_a_user_sent_is_quoted_at_a_bounded_length() {
    let long = "k".repeat(10_000);
    let e = run(Route::Chat, &chat(json!({ long.as_str(): 1 }))).unwrap_err();
    assert!(matches!(e, RequestError::Unrecognized(_)) && e.to_string().len() < 200, "{e}");
    let e = run(Route::Chat, &chat(json!({"messages": [{"role": long, "content": "x"}]}))).unwrap_err();
    assert!(e.to_string().len() < 300, "{e}");
    let e = run(Route::Chat, &chat(json!({ "model": long }))).unwrap_err();
    assert!(matches!(e, RequestError::UnknownModel { .. }) && e.to_string().len() < 300, "{e}");
}

#[test]
fn what_is_not_json_is_malformed() {
    for body in [&b"{\"model\":"[..], b"", b"\xff", b"null"] {
        let e = validate(Route::Chat, body, &limits()).map(|_| ()).unwrap_err();
        assert_eq!(kind_of(&e), says("malformed", None), "{body:?}");
    }
}

#[test]
fn errors_become_openai_errors_with_their_status_and_parameter() {
    let invalid = ApiError::from(run(Route::Chat, &chat(json!({"top_k": "5"}))).unwrap_err());
    assert!(matches!(invalid, ApiError::BadRequest { param: Some("top_k"), .. }), "{invalid:?}");
    let model = ApiError::from(run(Route::Chat, &chat(json!({"model": "gpt-4"}))).unwrap_err());
    assert!(matches!(model, ApiError::NotFound { code: "model_not_found", .. }), "{model:?}");
    let unknown = ApiError::from(run(Route::Chat, &chat(json!({"foo": 1}))).unwrap_err());
    match unknown {
        ApiError::BadRequest { message, param: None } => assert!(message.contains("foo"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_limits_are_the_settings_which_need_a_context_larger_than_max_tokens() {
    let mut settings = crate::Settings::new("127.0.0.1:0", "m");
    assert_eq!(settings.limits(), Limits { model: "m", tasks: &[], max_tokens: 4096, context_tokens: 32768 });
    assert_eq!(settings.check(), Ok(()));
    settings.context_tokens = 4096;
    assert_eq!(settings.check().map_err(|(key, _)| key), Err("context_tokens".to_string()));
    // A config written before the setting existed still loads, with the default.
    let old: crate::Settings = serde_json::from_value(json!({"model": "m"})).expect("loads");
    assert_eq!(old.context_tokens, 32768);
}

/// The body a miner receives once the gateway names every sampling parameter.
fn explicit(body: &Value, drawn: u64) -> Value {
    let mut map = match run(Route::Chat, body) {
        Ok(Value::Object(map)) => map,
        other => panic!("the schema refused {body}: {other:?}"),
    };
    explicit_sampling(&mut map, drawn);
    Value::Object(map)
}

#[test]
fn every_forwarded_body_names_its_sampling_and_keeps_the_users_values() {
    let base = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let picked = |v: &Value| json!([v["temperature"], v["top_k"], v["top_p"], v["seed"]]);
    // Nothing named: OpenAI's defaults, no top-k limit (absent: vLLM <= 0.8.5 refuses 0), and
    // the drawn seed.
    assert_eq!(picked(&explicit(&base, 77)), json!([1.0, null, 1.0, 77]));
    // The user's own values are kept, their seed above all (a drawn one never replaces it).
    let own = with(&base, json!({"temperature": 0.3, "top_k": 40, "top_p": 0.9, "seed": 5}));
    assert_eq!(picked(&explicit(&own, 77)), json!([0.3, 40, 0.9, 5]));
    // vLLM's -1 and 0 ("no limit") are not sent at all; greedy still names a seed.
    let greedy = with(&base, json!({"temperature": 0, "top_k": -1}));
    assert_eq!(picked(&explicit(&greedy, 9)), json!([0.0, null, 1.0, 9]));
    let zero = with(&base, json!({"temperature": 0.5, "top_k": 0}));
    assert!(explicit(&zero, 9).get("top_k").is_none(), "top_k 0 is never forwarded");
    // A drawn seed stays below 2^63, as the schema admits a user's: u64::MAX -> 2^63 - 1.
    assert_eq!(explicit(&base, u64::MAX)["seed"], json!(9_223_372_036_854_775_807u64));
    // Only the three sampling fields are added.
    let before = run(Route::Chat, &base).ok().and_then(|v| v.as_object().map(|m| m.len()));
    let after = explicit(&base, 1).as_object().map(|m| m.len());
    assert_eq!((before, after), (Some(3), Some(6)), "model, messages, max_tokens; + 3");
}
