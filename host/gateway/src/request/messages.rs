//! A chat's messages as the chat template will see them: the roles the template renders
//! (`developer`, OpenAI's newer name for `system`, as `system`), each content one string. Text parts are joined with a newline, as vLLM joins them for templates
//! that take a string (Qwen2.5's), so that the miner and the verifier render the same prompt.

use serde::Serialize;
use serde_json::Value;

use super::error::{RequestError, excerpt, invalid};

/// One message a miner receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

const TOOLS: &str = "tool calling is not served (tools change the rendered prompt and the form of the answer)";

/// `messages`: a non-empty list of messages.
pub(super) fn messages(value: Option<Value>) -> Result<Vec<Message>, RequestError> {
    let list = match value {
        Some(Value::Array(list)) if !list.is_empty() => list,
        _ => return Err(invalid("messages", "`messages` must be a non-empty array of messages")),
    };
    list.into_iter().enumerate().map(|(i, m)| message(i, m)).collect()
}

fn message(i: usize, value: Value) -> Result<Message, RequestError> {
    let Value::Object(mut fields) = value else {
        return Err(invalid("messages", format!("message {i} must be an object with a `role` and a `content`")));
    };
    let role = role(i, fields.remove("role"))?;
    let content = content(i, fields.remove("content"))?;
    for (name, value) in fields {
        replayed(i, &name, &value)?;
    }
    Ok(Message { role, content })
}

fn role(i: usize, value: Option<Value>) -> Result<Role, RequestError> {
    match value.as_ref().and_then(Value::as_str) {
        // OpenAI's newer name for the system role; the model's template knows only `system`
        // (and drops a role it does not know, the user's instructions with it).
        Some("system" | "developer") => Ok(Role::System),
        Some("user") => Ok(Role::User),
        Some("assistant") => Ok(Role::Assistant),
        Some(role @ ("tool" | "function")) => Err(RequestError::Unsupported {
            param: "messages",
            what: format!("message {i}'s role `{role}`"),
            why: TOOLS,
        }),
        Some(role) => Err(invalid(
            "messages",
            format!(
                "message {i}: the role must be `system` (or `developer`), `user` or `assistant`, not `{}`",
                excerpt(role)
            ),
        )),
        None => Err(invalid("messages", format!("message {i} needs a `role` string"))),
    }
}

/// A string, or a list of text parts joined with a newline.
fn content(i: usize, value: Option<Value>) -> Result<String, RequestError> {
    let parts = match value {
        Some(Value::String(text)) => return Ok(text),
        Some(Value::Array(parts)) => parts,
        _ => {
            return Err(invalid(
                "messages",
                format!("message {i} needs a `content`: a string or a list of text parts"),
            ));
        }
    };
    let mut texts = Vec::with_capacity(parts.len());
    for part in parts {
        texts.push(text_part(i, part)?);
    }
    Ok(texts.join("\n"))
}

fn text_part(i: usize, part: Value) -> Result<String, RequestError> {
    let Value::Object(mut part) = part else {
        return Err(invalid("messages", format!("message {i}: a content part must be an object")));
    };
    let kind = part.remove("type");
    let text = part.remove("text");
    match (kind.as_ref().and_then(Value::as_str), text, part.keys().next()) {
        (Some("text"), Some(Value::String(text)), None) => Ok(text),
        (Some("text"), _, _) => {
            Err(invalid("messages", format!("message {i}: a text part is `{{\"type\": \"text\", \"text\": string}}`")))
        }
        (Some(kind), _, _) => Err(RequestError::Unsupported {
            param: "messages",
            what: format!("message {i}'s `{}` part", excerpt(kind)),
            why: "the model reads text only",
        }),
        (None, _, _) => Err(invalid("messages", format!("message {i}: a content part needs a `type`"))),
    }
}

/// A field besides `role` and `content`: the participant's `name` (which the template does not
/// render) and what clients replay of an assistant's answer, when it carries nothing.
fn replayed(i: usize, name: &str, value: &Value) -> Result<(), RequestError> {
    let empty = value.is_null() || value.as_array().is_some_and(Vec::is_empty);
    match name {
        "name" if value.is_string() => Ok(()),
        "refusal" | "audio" | "annotations" if empty => Ok(()),
        "tool_calls" | "function_call" | "tool_call_id" if empty => Ok(()),
        "tool_calls" | "function_call" | "tool_call_id" => {
            Err(RequestError::Unsupported { param: "messages", what: format!("message {i}'s `{name}`"), why: TOOLS })
        }
        _ => Err(invalid(
            "messages",
            format!("message {i}: `{}` is not a message field this gateway serves", excerpt(name)),
        )),
    }
}

/// Bytes of text in `messages`, the bound [`super::prompt_bound`] counts.
pub(super) fn text_bytes(messages: &[Message]) -> u64 {
    messages.iter().map(|m| m.content.len() as u64).sum()
}
