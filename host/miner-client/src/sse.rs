//! Server-sent events as a miner streams them: a parser that is linear in its input (every byte
//! is looked at once, whatever the pieces' sizes) and bounded (an event larger than its limit is
//! an error, never a growing buffer). Pure: bytes in, events out; no clock, no I/O.
//!
//! Lines end with `\n`, `\r\n` or `\r`; a blank line ends an event; `data:` lines are joined with
//! `\n`; comments (`:`) and other fields (`event`, `id`, `retry`) are read and dropped, as the
//! OpenAI stream carries everything in `data`.

/// Why a stream could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("an event is larger than {limit} bytes")]
    EventTooLarge { limit: usize },
    #[error("an event is not UTF-8")]
    NotUtf8,
}

/// The parser's state between pieces.
#[derive(Debug)]
pub struct SseParser {
    max_event_bytes: usize,
    /// The line being read (no terminator).
    line: Vec<u8>,
    /// The event being read: its `data` lines, each followed by `\n`.
    data: Vec<u8>,
    /// The last piece ended with `\r`: a `\n` starting the next one belongs to it.
    after_cr: bool,
}

impl SseParser {
    /// A parser whose events (their `data`, and any one line) stay within `max_event_bytes`.
    pub fn new(max_event_bytes: usize) -> Self {
        Self { max_event_bytes, line: Vec::new(), data: Vec::new(), after_cr: false }
    }

    /// Takes the next piece and returns the `data` of every event it completed, in order.
    pub fn push(&mut self, piece: &[u8]) -> Result<Vec<String>, SseError> {
        let mut events = Vec::new();
        if piece.is_empty() {
            return Ok(events);
        }
        let mut rest = piece;
        if self.after_cr && rest.first() == Some(&b'\n') {
            rest = &rest[1..];
        }
        self.after_cr = false;
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.extend_line(&rest[..end])?;
            let crlf = rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n');
            if rest[end] == b'\r' && end + 1 == rest.len() {
                self.after_cr = true;
            }
            rest = &rest[end + if crlf { 2 } else { 1 }..];
            if let Some(event) = self.end_line()? {
                events.push(event);
            }
        }
        self.extend_line(rest)?;
        Ok(events)
    }

    fn extend_line(&mut self, bytes: &[u8]) -> Result<(), SseError> {
        if self.line.len() + self.data.len() + bytes.len() > self.max_event_bytes {
            return Err(SseError::EventTooLarge { limit: self.max_event_bytes });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// A line ended: a field, a comment, or (blank) the end of an event.
    fn end_line(&mut self) -> Result<Option<String>, SseError> {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            if self.data.is_empty() {
                return Ok(None);
            }
            let mut data = std::mem::take(&mut self.data);
            data.pop(); // the last line's `\n`
            return String::from_utf8(data).map(Some).map_err(|_| SseError::NotUtf8);
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => (&line[..colon], &line[colon + 1..]),
            None => (&line[..], &[][..]),
        };
        if field == b"data" {
            let value = value.strip_prefix(b" ").unwrap_or(value);
            self.data.extend_from_slice(value);
            self.data.push(b'\n');
        }
        Ok(None)
    }
}

/// Every event of a whole stream (the parser over one piece): for tests and fuzzing. Events not
/// ended by a blank line are not returned.
pub fn parse_sse(stream: &[u8], max_event_bytes: usize) -> Result<Vec<String>, SseError> {
    SseParser::new(max_event_bytes).push(stream)
}

/// One event's `data` as it is relayed: `data: ` before each of its lines, a blank line after.
pub fn encode_event(data: &str, out: &mut Vec<u8>) {
    for line in data.split('\n') {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(stream: &[u8], expected: &[&str]) {
        assert_eq!(parse_sse(stream, 1 << 10).expect("parses"), expected, "{}", String::from_utf8_lossy(stream));
        // Any split into pieces gives the same events.
        for size in [1, 2, 3, 7] {
            let mut parser = SseParser::new(1 << 10);
            let mut events = Vec::new();
            for piece in stream.chunks(size) {
                events.extend(parser.push(piece).expect("parses"));
            }
            assert_eq!(events, expected, "pieces of {size}");
        }
    }

    #[test]
    fn events_in_every_line_ending_and_field_form() {
        check(b"data: {\"a\":1}\n\ndata: [DONE]\n\n", &["{\"a\":1}", "[DONE]"]);
        check(b"data:x\r\n\r\ndata: y\r\rdata: z\n\n", &["x", "y", "z"]);
        check(b": a comment\nevent: message\nid: 3\ndata: one\ndata: two\n\n", &["one\ntwo"]);
        check(b"\n\n\ndata: late\n\n", &["late"]);
        check(b"data: unfinished", &[]);
        check(b"data:  two spaces\n\n", &[" two spaces"]);
    }

    #[test]
    fn an_event_past_its_limit_is_an_error_whatever_the_pieces() {
        let mut parser = SseParser::new(16);
        assert!(parser.push(b"data: 0123").expect("fits").is_empty());
        assert_eq!(parser.push(b"456789abcdef"), Err(SseError::EventTooLarge { limit: 16 }));
        // Many small data lines add up too.
        let mut parser = SseParser::new(16);
        assert_eq!(parser.push(b"data: 12345\ndata: 12345\ndata: 12345\n"), Err(SseError::EventTooLarge { limit: 16 }));
        assert_eq!(parse_sse(b"data: \xff\xfe\n\n", 16), Err(SseError::NotUtf8));
    }

    #[test]
    fn relayed_events_read_back_the_same() {
        let mut out = Vec::new();
        encode_event("{\"a\":1}", &mut out);
        encode_event("line one\nline two", &mut out);
        assert_eq!(parse_sse(&out, 1 << 10).expect("parses"), ["{\"a\":1}", "line one\nline two"]);
    }
}
