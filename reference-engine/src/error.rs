//! Errors of the reference engine. Each names the file, tensor, token or index that was wrong.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path}: {reason}")]
    Config { path: String, reason: String },
    #[error("weights {path}: {reason}")]
    Weights { path: String, reason: String },
    #[error("tensor {name}: {reason}")]
    Tensor { name: String, reason: String },
    #[error("token id {id} at position {position} is outside the vocabulary of {vocab}")]
    TokenOutOfRange { id: u32, position: usize, vocab: usize },
    #[error("position {position} is past the sequence of {len} tokens")]
    PositionOutOfRange { position: usize, len: usize },
    #[error("layer {layer} is past the model's hidden states 0..={max}")]
    LayerOutOfRange { layer: usize, max: usize },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("chat template: {0}")]
    Template(String),
    #[error("device {value:?} is not one of: {spellings}", spellings = crate::DEVICE_SPELLINGS)]
    Device { value: String },
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}
