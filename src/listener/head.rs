//! Tells, from the bytes a connection sends, when its first request head is
//! complete: for HTTP/1 the blank line after the headers, for HTTP/2 (the
//! gRPC listener, or h2c) the connection preface followed by a HEADERS or
//! CONTINUATION frame that ends a header block. Only framing is read, never
//! the content; HTTP itself is parsed by hyper and h2 afterwards.

/// The HTTP/2 connection preface (RFC 9113, section 3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const H1_HEAD_END: &[u8; 4] = b"\r\n\r\n";
const FRAME_HEADER_LEN: usize = 9;
const FRAME_HEADERS: u8 = 0x1;
const FRAME_CONTINUATION: u8 = 0x9;
const FLAG_END_HEADERS: u8 = 0x4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadSniffer {
    /// Not yet known whether this is the HTTP/2 preface: how much of it matched.
    Start {
        matched: usize,
    },
    /// HTTP/1: how much of the blank line that ends the head was seen.
    Http1 {
        matched: usize,
    },
    /// HTTP/2 after the preface: a frame header being read, or a payload skipped.
    Http2 {
        header: [u8; FRAME_HEADER_LEN],
        have: usize,
        skip: usize,
    },
    Done,
}

impl Default for HeadSniffer {
    fn default() -> Self {
        Self::Start { matched: 0 }
    }
}

impl HeadSniffer {
    /// Takes the next bytes the peer sent; true once the head is complete.
    pub fn feed(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            match self {
                Self::Done => return true,
                Self::Start { matched } => {
                    let byte = bytes[0];
                    if byte == H2_PREFACE[*matched] {
                        *matched += 1;
                        bytes = &bytes[1..];
                        if *matched == H2_PREFACE.len() {
                            *self = Self::Http2 {
                                header: [0; FRAME_HEADER_LEN],
                                have: 0,
                                skip: 0,
                            };
                        }
                    } else {
                        // Not HTTP/2: replay what matched as the start of an HTTP/1 head.
                        let seen = H2_PREFACE[..*matched].to_vec();
                        *self = Self::Http1 { matched: 0 };
                        if self.feed(&seen) {
                            return true;
                        }
                    }
                }
                Self::Http1 { matched } => {
                    let byte = bytes[0];
                    bytes = &bytes[1..];
                    *matched = if byte == H1_HEAD_END[*matched] {
                        *matched + 1
                    } else if byte == b'\r' {
                        1
                    } else {
                        0
                    };
                    if *matched == H1_HEAD_END.len() {
                        *self = Self::Done;
                    }
                }
                Self::Http2 { header, have, skip } => {
                    if *skip > 0 {
                        let skipped = (*skip).min(bytes.len());
                        *skip -= skipped;
                        bytes = &bytes[skipped..];
                        continue;
                    }
                    let taken = (FRAME_HEADER_LEN - *have).min(bytes.len());
                    header[*have..*have + taken].copy_from_slice(&bytes[..taken]);
                    *have += taken;
                    bytes = &bytes[taken..];
                    if *have == FRAME_HEADER_LEN {
                        let length = u32::from_be_bytes([0, header[0], header[1], header[2]]);
                        let (kind, flags) = (header[3], header[4]);
                        if matches!(kind, FRAME_HEADERS | FRAME_CONTINUATION)
                            && flags & FLAG_END_HEADERS != 0
                        {
                            *self = Self::Done;
                        } else {
                            *have = 0;
                            *skip = length as usize;
                        }
                    }
                }
            }
        }
        matches!(self, Self::Done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete_after(chunks: &[&[u8]]) -> Option<usize> {
        let mut sniffer = HeadSniffer::default();
        chunks.iter().position(|chunk| sniffer.feed(chunk))
    }

    #[test]
    fn an_http1_head_is_complete_at_its_blank_line_however_it_is_split() {
        let head = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
        for split in 0..head.len() {
            let (first, second) = head.split_at(split);
            assert_eq!(
                complete_after(&[first, second]),
                Some(1),
                "split at {split}"
            );
        }
        assert_eq!(complete_after(&[b"GET / HTTP/1.1\r\nHost: x\r\n"]), None);
        // Byte by byte, as a slowloris sends it, still counts only at the end.
        let bytes: Vec<&[u8]> = head.chunks(1).collect();
        assert_eq!(complete_after(&bytes), Some(head.len() - 1));
    }

    #[test]
    fn a_request_that_starts_like_the_http2_preface_is_still_http1() {
        assert_eq!(complete_after(&[b"PRI", b" /x HTTP/1.1\r\n\r\n"]), Some(1));
        assert_eq!(complete_after(&[b"P\r\n\r\n"]), Some(0));
    }

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let length = (payload.len() as u32).to_be_bytes();
        let mut bytes = vec![length[1], length[2], length[3], kind, flags, 0, 0, 0, 1];
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn an_http2_head_is_complete_at_the_frame_that_ends_the_header_block() {
        let settings = frame(0x4, 0, &[0; 12]);
        let headers = frame(FRAME_HEADERS, 0, &[1, 2, 3]);
        let continuation = frame(FRAME_CONTINUATION, FLAG_END_HEADERS, &[4]);
        let mut stream = H2_PREFACE.to_vec();
        stream.extend(&settings);
        stream.extend(&headers);
        let before_end = stream.len();
        stream.extend(&continuation);
        for split in 0..stream.len() {
            let (first, second) = stream.split_at(split);
            let expected = if split >= before_end + FRAME_HEADER_LEN {
                0
            } else {
                1
            };
            assert_eq!(
                complete_after(&[first, second]),
                Some(expected),
                "split at {split}"
            );
        }
        // A payload that happens to contain the HTTP/1 blank line means nothing.
        let mut stream = H2_PREFACE.to_vec();
        stream.extend(frame(0x0, 0, b"\r\n\r\n"));
        assert_eq!(complete_after(&[&stream]), None);
    }
}
