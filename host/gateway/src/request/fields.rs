//! A body read field by field: each known field is taken out as it is read and checked for its
//! type and range, so that whatever is left at the end is unknown. Also the two tables of fields
//! the schema does not forward: options refused unless their value changes nothing, and hints
//! that are dropped.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::Route;
use super::error::{RequestError, excerpt, invalid};

/// The fields of a body not read yet.
pub(super) struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    pub(super) fn new(map: Map<String, Value>) -> Self {
        Fields { map }
    }

    /// `name` as a `T` for which `ok` holds; absent or null is `None`. `expected` completes the
    /// error "`name` must be …".
    pub(super) fn take_where<T: DeserializeOwned>(
        &mut self,
        name: &'static str,
        expected: &str,
        ok: impl Fn(&T) -> bool,
    ) -> Result<Option<T>, RequestError> {
        let Some(value) = self.take_value(name) else { return Ok(None) };
        match serde_json::from_value::<T>(value) {
            Ok(v) if ok(&v) => Ok(Some(v)),
            _ => Err(invalid(name, format!("`{name}` must be {expected}"))),
        }
    }

    pub(super) fn take<T: DeserializeOwned>(
        &mut self,
        name: &'static str,
        expected: &str,
    ) -> Result<Option<T>, RequestError> {
        self.take_where(name, expected, |_| true)
    }

    /// `name`'s value, unless absent or null.
    pub(super) fn take_value(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name).filter(|v| !v.is_null())
    }

    /// Takes the refused options and the hints of `route`: an option is refused unless its value
    /// changes nothing, a hint is dropped once its type is checked.
    pub(super) fn drop_no_ops_and_hints(&mut self, route: Route) -> Result<(), RequestError> {
        for option in REFUSED.iter().filter(|o| o.route.is_none_or(|r| r == route)) {
            if let Some(value) = self.take_value(option.name)
                && !(option.no_op)(&value)
            {
                let what = match &value {
                    Value::Number(_) | Value::Bool(_) => format!("`{}` = {value}", option.name),
                    _ => format!("`{}`", option.name),
                };
                return Err(RequestError::Unsupported { param: option.name, what, why: option.why });
            }
        }
        for hint in HINTS {
            if let Some(value) = self.take_value(hint.name)
                && !(hint.is)(&value)
            {
                return Err(invalid(hint.name, format!("`{}` must be {}", hint.name, hint.expected)));
            }
        }
        Ok(())
    }

    /// Nothing must be left: a field left is one the API does not have on this route.
    pub(super) fn finish(self) -> Result<(), RequestError> {
        match self.map.into_iter().next() {
            Some((name, _)) => Err(RequestError::Unrecognized(excerpt(&name))),
            None => Ok(()),
        }
    }
}

/// An option refused unless its value is a no-op (then it is dropped): see docs/requests.md.
struct Refused {
    name: &'static str,
    /// The route whose API has it; `None`: both.
    route: Option<Route>,
    no_op: fn(&Value) -> bool,
    why: &'static str,
}

const LOGITS: &str = "it changes the model's token distribution, and miners are verified against the plain one";
const TEMPLATE: &str =
    "it changes the prompt the chat template renders, and miners are verified against the template's defaults";
const TOOLS: &str = "tool calling is not served (tools change the rendered prompt and the form of the answer)";
const ONE: &str = "one completion per request is served, the one the validator verifies";

const REFUSED: &[Refused] = &[
    Refused { name: "n", route: None, no_op: is_one, why: ONE },
    Refused { name: "best_of", route: Some(Route::Completions), no_op: is_one, why: ONE },
    Refused { name: "presence_penalty", route: None, no_op: is_zero, why: LOGITS },
    Refused { name: "frequency_penalty", route: None, no_op: is_zero, why: LOGITS },
    Refused { name: "repetition_penalty", route: None, no_op: is_one, why: LOGITS },
    Refused { name: "logit_bias", route: None, no_op: is_empty, why: LOGITS },
    Refused {
        name: "min_p",
        route: None,
        no_op: is_zero,
        why: "not every miner implements it (the reference miner does not)",
    },
    Refused {
        name: "min_tokens",
        route: None,
        no_op: is_zero,
        why: "it suppresses end-of-sequence, where the verifier expects greedy generation to stop",
    },
    Refused {
        name: "skip_special_tokens",
        route: None,
        no_op: is_true,
        why: "answers are the completion's text without special tokens",
    },
    Refused {
        name: "response_format",
        route: Some(Route::Chat),
        no_op: is_text_format,
        why: "structured output constrains the token distribution, and miners are verified against the plain one",
    },
    Refused { name: "tools", route: Some(Route::Chat), no_op: is_empty, why: TOOLS },
    Refused { name: "tool_choice", route: Some(Route::Chat), no_op: is_none_choice, why: TOOLS },
    Refused { name: "functions", route: Some(Route::Chat), no_op: is_empty, why: TOOLS },
    Refused { name: "function_call", route: Some(Route::Chat), no_op: is_none_choice, why: TOOLS },
    Refused { name: "chat_template", route: Some(Route::Chat), no_op: never, why: TEMPLATE },
    Refused { name: "chat_template_kwargs", route: Some(Route::Chat), no_op: is_empty, why: TEMPLATE },
    Refused { name: "add_generation_prompt", route: Some(Route::Chat), no_op: is_true, why: TEMPLATE },
    Refused { name: "continue_final_message", route: Some(Route::Chat), no_op: is_false, why: TEMPLATE },
    Refused { name: "add_special_tokens", route: Some(Route::Chat), no_op: is_false, why: TEMPLATE },
    Refused { name: "documents", route: Some(Route::Chat), no_op: never, why: TEMPLATE },
    Refused {
        name: "echo",
        route: Some(Route::Completions),
        no_op: is_false,
        why: "answers carry the completion's text only, the text the miner signed",
    },
    Refused {
        name: "suffix",
        route: Some(Route::Completions),
        no_op: never,
        why: "insertion changes the prompt, and the model has no insertion format",
    },
];

/// A field OpenAI documents as a hint to its own service (end-user ids, storage, tiers): it
/// changes nothing a miner computes, and miners need not learn it.
struct Hint {
    name: &'static str,
    is: fn(&Value) -> bool,
    expected: &'static str,
}

const HINTS: &[Hint] = &[
    Hint { name: "user", is: Value::is_string, expected: "a string" },
    Hint { name: "safety_identifier", is: Value::is_string, expected: "a string" },
    Hint { name: "prompt_cache_key", is: Value::is_string, expected: "a string" },
    Hint { name: "service_tier", is: Value::is_string, expected: "a string" },
    Hint { name: "metadata", is: Value::is_object, expected: "an object" },
    Hint { name: "store", is: Value::is_boolean, expected: "a boolean" },
    Hint { name: "parallel_tool_calls", is: Value::is_boolean, expected: "a boolean" },
];

fn is_zero(v: &Value) -> bool {
    v.as_f64() == Some(0.0)
}

fn is_one(v: &Value) -> bool {
    v.as_f64() == Some(1.0)
}

fn is_true(v: &Value) -> bool {
    v.as_bool() == Some(true)
}

fn is_false(v: &Value) -> bool {
    v.as_bool() == Some(false)
}

fn is_empty(v: &Value) -> bool {
    v.as_array().is_some_and(Vec::is_empty) || v.as_object().is_some_and(Map::is_empty)
}

fn is_none_choice(v: &Value) -> bool {
    v.as_str() == Some("none")
}

fn is_text_format(v: &Value) -> bool {
    v.as_object().is_some_and(|f| f.len() == 1 && f.get("type").and_then(Value::as_str) == Some("text"))
}

fn never(_: &Value) -> bool {
    false
}
