//! `config.json` of a Qwen2 model, in both transformers key styles: v4 (`rope_theta`,
//! `torch_dtype`) and v5 (`rope_parameters.rope_theta`, `dtype`).

use std::path::Path;

use serde::Deserialize;

use crate::{Error, Result};

#[derive(Debug, Clone, Deserialize)]
struct RopeParameters {
    rope_theta: Option<f64>,
    rope_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum TokenIds {
    One(u32),
    Many(Vec<u32>),
}

#[derive(Debug, Clone, Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: f64,
    rope_theta: Option<f64>,
    rope_parameters: Option<RopeParameters>,
    rope_scaling: Option<serde_json::Value>,
    #[serde(default)]
    tie_word_embeddings: bool,
    hidden_act: Option<String>,
    torch_dtype: Option<String>,
    dtype: Option<String>,
    bos_token_id: Option<u32>,
    eos_token_id: Option<TokenIds>,
    max_position_embeddings: Option<usize>,
}

/// The model's shape and constants, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub tie_word_embeddings: bool,
    /// The dtype the checkpoint declares (`bfloat16`, `float32`, …), if any.
    pub dtype: Option<String>,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
    pub max_position_embeddings: Option<usize>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(Error::io(format!("reading {}", path.display())))?;
        Self::parse(&text).map_err(|reason| Error::Config { path: path.display().to_string(), reason })
    }

    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if let Some(t) = raw.model_type.as_deref()
            && t != "qwen2"
        {
            return Err(format!("model_type {t:?} is not qwen2"));
        }
        if let Some(act) = raw.hidden_act.as_deref()
            && act != "silu"
        {
            return Err(format!("hidden_act {act:?} is not supported (silu only)"));
        }
        if raw.rope_scaling.as_ref().is_some_and(|v| !v.is_null()) {
            return Err("rope_scaling is not supported".into());
        }
        if let Some(kind) = raw.rope_parameters.as_ref().and_then(|p| p.rope_type.as_deref())
            && kind != "default"
        {
            return Err(format!("rope_type {kind:?} is not supported (default only)"));
        }
        let rope_theta = raw
            .rope_parameters
            .as_ref()
            .and_then(|p| p.rope_theta)
            .or(raw.rope_theta)
            .ok_or("neither rope_theta nor rope_parameters.rope_theta is set")?;
        let num_kv_heads = raw.num_key_value_heads.unwrap_or(raw.num_attention_heads);
        let positive = [
            ("vocab_size", raw.vocab_size),
            ("hidden_size", raw.hidden_size),
            ("intermediate_size", raw.intermediate_size),
            ("num_hidden_layers", raw.num_hidden_layers),
            ("num_attention_heads", raw.num_attention_heads),
            ("num_key_value_heads", num_kv_heads),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be positive"));
        }
        if !raw.num_attention_heads.is_multiple_of(num_kv_heads) {
            return Err(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {num_kv_heads}",
                raw.num_attention_heads
            ));
        }
        let head_dim = match raw.head_dim {
            Some(d) => d,
            None if raw.hidden_size.is_multiple_of(raw.num_attention_heads) => {
                raw.hidden_size / raw.num_attention_heads
            }
            None => return Err("hidden_size is not a multiple of num_attention_heads".into()),
        };
        if head_dim == 0 || head_dim % 2 != 0 {
            return Err(format!("head_dim {head_dim} must be positive and even"));
        }
        let valid =
            rope_theta.is_finite() && rope_theta > 0.0 && raw.rms_norm_eps.is_finite() && raw.rms_norm_eps >= 0.0;
        if !valid {
            return Err("rope_theta must be positive and rms_norm_eps non-negative".into());
        }
        Ok(Self {
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            intermediate_size: raw.intermediate_size,
            num_layers: raw.num_hidden_layers,
            num_heads: raw.num_attention_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: raw.rms_norm_eps,
            rope_theta,
            tie_word_embeddings: raw.tie_word_embeddings,
            dtype: raw.dtype.or(raw.torch_dtype),
            bos_token_id: raw.bos_token_id,
            eos_token_ids: match raw.eos_token_id {
                None => vec![],
                Some(TokenIds::One(id)) => vec![id],
                Some(TokenIds::Many(ids)) => ids,
            },
            max_position_embeddings: raw.max_position_embeddings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: &str = r#"{"model_type":"qwen2","vocab_size":152064,"hidden_size":3584,"intermediate_size":18944,
        "num_hidden_layers":28,"num_attention_heads":28,"num_key_value_heads":4,"rms_norm_eps":1e-6,
        "rope_theta":1000000.0,"tie_word_embeddings":false,"torch_dtype":"bfloat16","eos_token_id":151645,
        "hidden_act":"silu","rope_scaling":null,"max_position_embeddings":32768}"#;

    #[test]
    fn qwen25_7b_in_both_key_styles() {
        let v4 = Config::parse(V4).expect("v4 parses");
        assert_eq!((v4.num_layers, v4.hidden_size, v4.num_heads, v4.num_kv_heads, v4.head_dim), (28, 3584, 28, 4, 128));
        assert_eq!((v4.rope_theta, v4.rms_norm_eps, v4.vocab_size), (1e6, 1e-6, 152064));
        assert_eq!(v4.dtype.as_deref(), Some("bfloat16"));
        assert_eq!(v4.eos_token_ids, vec![151645]);
        let v5 = V4
            .replace(
                "\"rope_theta\":1000000.0",
                "\"rope_parameters\":{\"rope_theta\":1000000.0,\"rope_type\":\"default\"}",
            )
            .replace("torch_dtype", "dtype")
            .replace("\"eos_token_id\":151645", "\"eos_token_id\":[151645,151643]");
        let v5 = Config::parse(&v5).expect("v5 parses");
        assert_eq!(v5.rope_theta, 1e6);
        assert_eq!(v5.eos_token_ids, vec![151645, 151643]);
        assert_eq!(v5.dtype.as_deref(), Some("bfloat16"));
    }

    #[test]
    fn malformed_configs_name_the_problem() {
        let cases = [
            (V4.replace("\"rope_theta\":1000000.0,", ""), "rope_theta"),
            (V4.replace("\"num_key_value_heads\":4", "\"num_key_value_heads\":5"), "not a multiple"),
            (V4.replace("\"model_type\":\"qwen2\"", "\"model_type\":\"llama\""), "llama"),
            (V4.replace("\"rope_scaling\":null", "\"rope_scaling\":{\"type\":\"yarn\"}"), "rope_scaling"),
            (V4.replace("\"hidden_size\":3584,", ""), "hidden_size"),
            (V4.replace("\"num_hidden_layers\":28", "\"num_hidden_layers\":0"), "num_hidden_layers"),
            ("{".to_string(), "EOF"),
        ];
        for (text, expected) in cases {
            let err = Config::parse(&text).expect_err(expected);
            assert!(err.contains(expected), "{err:?} lacks {expected:?}");
        }
    }
}
