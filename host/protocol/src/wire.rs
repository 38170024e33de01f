//! Message types of the protocol, as JSON.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// `GET /assay/v1/info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Info {
    pub protocol_version: u32,
    pub model: String,
    /// Transformer layers; hidden states are numbered 0..=layers.
    pub layers: u32,
    pub hidden_size: u32,
    /// Concurrent requests the miner accepts before answering 429.
    pub capacity: u32,
    /// Seconds a commitment can be opened after its response.
    pub open_window_s: u64,
}

/// The `assay` extension every validator request carries, challenged or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestExtension {
    pub request_id: String,
    /// Random, so that two requests with the same text still differ.
    pub nonce: String,
    /// Whether the miner must commit to its hidden states.
    pub commit: bool,
}

/// Hidden-state precision the miner reports vectors in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorDtype {
    F32,
    Bf16,
}

impl VectorDtype {
    pub fn size(self) -> usize {
        match self {
            VectorDtype::F32 => 4,
            VectorDtype::Bf16 => 2,
        }
    }

    /// Little-endian bytes to f32 values; `None` when the length is not a whole number of values.
    pub fn decode(self, bytes: &[u8]) -> Option<Vec<f32>> {
        if !bytes.len().is_multiple_of(self.size()) {
            return None;
        }
        Some(match self {
            VectorDtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            VectorDtype::Bf16 => bytes
                .chunks_exact(2)
                .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
                .collect(),
        })
    }
}

/// The `assay` extension of a completion's final chunk (or body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseExtension {
    pub request_id: String,
    pub prompt_token_ids: Vec<u32>,
    pub completion_token_ids: Vec<u32>,
    /// Hex Merkle root over the hidden states (see `commitment`), when the request asked for one.
    pub commitment: Option<String>,
    pub leaf_count: u64,
    pub dtype: VectorDtype,
}

/// `POST /assay/v1/open`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenRequest {
    pub request_id: String,
    /// `[layer, position]` pairs.
    pub points: Vec<[u32; 2]>,
}

/// One opened point: the vector (base64 of little-endian values) and its Merkle path (hex).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenedPoint {
    pub layer: u32,
    pub position: u32,
    pub vector: String,
    pub path: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenResponse {
    pub request_id: String,
    pub points: Vec<OpenedPoint>,
}

pub fn encode_vector(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn decode_vector(text: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_and_bad_ones_are_refused() {
        let values = [1.5f32, -0.25, 3.0e-3];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let text = encode_vector(&bytes);
        assert_eq!(VectorDtype::F32.decode(&decode_vector(&text).expect("base64")).expect("whole"), values);
        assert_eq!(VectorDtype::Bf16.decode(&[0x80, 0x3f]).expect("whole"), vec![1.0]);
        assert!(VectorDtype::F32.decode(&bytes[..5]).is_none());
        assert!(decode_vector("not base64!").is_none());
        let ext: ResponseExtension = serde_json::from_str(
            r#"{"request_id":"r","prompt_token_ids":[1],"completion_token_ids":[2],"commitment":null,"leaf_count":0,"dtype":"bf16"}"#,
        )
        .expect("parses");
        assert_eq!(ext.dtype, VectorDtype::Bf16);
    }
}
