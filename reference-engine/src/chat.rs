//! Text to token ids as transformers does it: `tokenizer.json` through the `tokenizers` crate,
//! and the model's own chat template from `tokenizer_config.json` rendered with minijinja
//! configured like transformers' jinja environment (trim and lstrip blocks, Python string
//! methods, `raise_exception`, a `tojson` that writes what Python's `json.dumps` writes).

use std::path::Path;

use minijinja::{Environment, Error as JinjaError, ErrorKind, Value};
use serde::Deserialize;

use crate::{Error, Result};

#[derive(Deserialize)]
#[serde(untagged)]
enum TokenSetting {
    Text(String),
    Object { content: String },
}

impl TokenSetting {
    fn text(self) -> String {
        match self {
            TokenSetting::Text(t) | TokenSetting::Object { content: t } => t,
        }
    }
}

#[derive(Deserialize, Default)]
struct TokenizerConfig {
    chat_template: Option<serde_json::Value>,
    bos_token: Option<TokenSetting>,
    eos_token: Option<TokenSetting>,
    pad_token: Option<TokenSetting>,
    unk_token: Option<TokenSetting>,
}

/// A model's tokenizer and chat template.
pub struct ChatTokenizer {
    tokenizer: tokenizers::Tokenizer,
    template: Option<String>,
    specials: Vec<(&'static str, String)>,
}

/// Python's `json.dumps` with its default separators (`", "`, `": "`), optionally indented.
fn python_json(value: &serde_json::Value, indent: Option<usize>, level: usize, out: &mut String) {
    use serde_json::Value as J;
    let newline = |out: &mut String, level: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * level));
        }
    };
    let item_sep = if indent.is_some() { "," } else { ", " };
    match value {
        J::Array(items) if !items.is_empty() => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                python_json(item, indent, level + 1, out);
            }
            newline(out, level);
            out.push(']');
        }
        J::Object(map) if !map.is_empty() => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, level + 1);
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push_str(": ");
                python_json(v, indent, level + 1, out);
            }
            newline(out, level);
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn tojson(value: Value, kwargs: minijinja::value::Kwargs) -> std::result::Result<Value, JinjaError> {
    let indent: Option<usize> = kwargs.get("indent")?;
    kwargs.assert_all_used()?;
    let json: serde_json::Value =
        serde_json::to_value(&value).map_err(|e| JinjaError::new(ErrorKind::InvalidOperation, e.to_string()))?;
    let mut out = String::new();
    python_json(&json, indent, 0, &mut out);
    Ok(Value::from_safe_string(out))
}

fn raise_exception(message: String) -> std::result::Result<Value, JinjaError> {
    Err(JinjaError::new(ErrorKind::InvalidOperation, message))
}

impl ChatTokenizer {
    /// Loads `tokenizer.json`, and `tokenizer_config.json` where present.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        let tokenizer = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| Error::Tokenizer(format!("loading {}: {e}", path.display())))?;
        let config_path = dir.join("tokenizer_config.json");
        let config: TokenizerConfig = if config_path.exists() {
            let text = std::fs::read_to_string(&config_path)
                .map_err(Error::io(format!("reading {}", config_path.display())))?;
            serde_json::from_str(&text).map_err(|e| Error::Tokenizer(format!("{}: {e}", config_path.display())))?
        } else {
            TokenizerConfig::default()
        };
        let template = match config.chat_template {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(t)) => Some(t),
            // A list of named templates: take the one named "default".
            Some(serde_json::Value::Array(items)) => {
                items.iter().find(|i| i["name"] == "default").and_then(|i| i["template"].as_str()).map(str::to_string)
            }
            Some(other) => return Err(Error::Template(format!("chat_template is neither text nor a list: {other}"))),
        };
        let mut specials = Vec::new();
        for (name, setting) in [
            ("bos_token", config.bos_token),
            ("eos_token", config.eos_token),
            ("pad_token", config.pad_token),
            ("unk_token", config.unk_token),
        ] {
            if let Some(s) = setting {
                specials.push((name, s.text()));
            }
        }
        Ok(Self { tokenizer, template, specials })
    }

    pub fn has_chat_template(&self) -> bool {
        self.template.is_some()
    }

    /// The token id of a special token's text, e.g. `<|im_end|>`.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.tokenizer.token_to_id(text)
    }

    /// Renders the chat template. `messages` is a JSON array of `{role, content, …}`;
    /// `extra` adds template variables (`tools`, `enable_thinking`, …).
    pub fn render(
        &self,
        messages: &serde_json::Value,
        add_generation_prompt: bool,
        extra: &serde_json::Value,
    ) -> Result<String> {
        let template =
            self.template.as_deref().ok_or_else(|| Error::Template("the model has no chat template".into()))?;
        if !messages.is_array() {
            return Err(Error::Template("messages must be a JSON array".into()));
        }
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_filter("tojson", tojson);
        env.add_template("chat", template).map_err(|e| Error::Template(e.to_string()))?;
        let mut context = serde_json::Map::new();
        for (name, text) in &self.specials {
            context.insert((*name).to_string(), serde_json::Value::String(text.clone()));
        }
        context.insert("messages".into(), messages.clone());
        context.insert("add_generation_prompt".into(), serde_json::Value::Bool(add_generation_prompt));
        if let Some(extra) = extra.as_object() {
            for (k, v) in extra {
                context.insert(k.clone(), v.clone());
            }
        }
        let tmpl = env.get_template("chat").map_err(|e| Error::Template(e.to_string()))?;
        tmpl.render(Value::from_serialize(&context)).map_err(|e| Error::Template(format!("{e:#}")))
    }

    /// Token ids of `text`, with special tokens in the text recognized and none added
    /// (transformers' `apply_chat_template` tokenizes the rendered text this way).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self.tokenizer.encode(text, false).map_err(|e| Error::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.tokenizer.decode(ids, skip_special_tokens).map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// The prompt token ids for a conversation, as `apply_chat_template(..., tokenize=True)`.
    pub fn chat_ids(
        &self,
        messages: &serde_json::Value,
        add_generation_prompt: bool,
        extra: &serde_json::Value,
    ) -> Result<Vec<u32>> {
        self.encode(&self.render(messages, add_generation_prompt, extra)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tojson_writes_what_python_writes() {
        let v = serde_json::json!({"name": "f", "args": [1, 2.5, "x", null, true], "nested": {}});
        let mut out = String::new();
        python_json(&v, None, 0, &mut out);
        assert_eq!(out, r#"{"args": [1, 2.5, "x", null, true], "name": "f", "nested": {}}"#);
        let mut out = String::new();
        python_json(&serde_json::json!({"a": [1]}), Some(2), 0, &mut out);
        assert_eq!(out, "{\n  \"a\": [\n    1\n  ]\n}");
    }
}
