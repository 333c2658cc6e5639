//! Detach keys (`--detach-keys`, default Ctrl-P Ctrl-Q): parsing Docker's
//! notation and spotting the sequence in a client's stdin, so that an
//! attached client can leave a container running.

use crate::error::{EngineError, Result};

/// Docker's default: Ctrl-P Ctrl-Q.
pub const DEFAULT_KEYS: [u8; 2] = [16, 17];

/// Parses `ctrl-p,ctrl-q`, `a,b`, `ctrl-@`… into bytes, as Docker's
/// `term.ToBytes` does.
pub fn parse_keys(s: &str) -> Result<Vec<u8>> {
    let bad = || EngineError::invalid(format!("Invalid detach keys ({s}) provided"));
    let mut out = Vec::new();
    for key in s.split(',') {
        let k = key.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let mut ch = c.chars();
            let (Some(c), None) = (ch.next(), ch.next()) else {
                return Err(bad());
            };
            let b = match c.to_ascii_lowercase() {
                c @ 'a'..='z' => c as u8 - b'a' + 1,
                '@' => 0,
                '[' => 27,
                '\\' => 28,
                ']' => 29,
                '^' => 30,
                '_' => 31,
                _ => return Err(bad()),
            };
            out.push(b);
        } else {
            let mut ch = k.chars();
            match (ch.next(), ch.next()) {
                (Some(c), None) if c.is_ascii() => out.push(c as u8),
                _ => return Err(bad()),
            }
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// Keys given by the client, or the default when empty.
pub fn keys_or_default(s: &str) -> Result<Vec<u8>> {
    if s.is_empty() {
        Ok(DEFAULT_KEYS.to_vec())
    } else {
        parse_keys(s)
    }
}

/// Passes stdin through, holding back a partial match of the detach
/// sequence (released if the sequence breaks off).
pub struct DetachFilter {
    keys: Vec<u8>,
    held: usize,
}

impl DetachFilter {
    /// A filter for `keys`.
    pub fn new(keys: Vec<u8>) -> DetachFilter {
        DetachFilter { keys, held: 0 }
    }

    /// Appends to `out` what may go to the container; `true` when the
    /// whole sequence was typed (nothing after it is passed on).
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        for &b in input {
            if b == self.keys[self.held] {
                self.held += 1;
                if self.held == self.keys.len() {
                    return true;
                }
                continue;
            }
            if self.held > 0 {
                out.extend_from_slice(&self.keys[..self.held]);
                self.held = 0;
                if b == self.keys[0] {
                    self.held = 1;
                    if self.keys.len() == 1 {
                        return true;
                    }
                    continue;
                }
            }
            out.push(b);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        assert_eq!(parse_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
        assert_eq!(parse_keys("ctrl-@,ctrl-_").unwrap(), vec![0, 31]);
        assert!(parse_keys("ctrl-").is_err());
        assert!(parse_keys("ctrl-pp").is_err());
        assert!(parse_keys("xy").is_err());
        assert!(parse_keys("").is_err());
        assert_eq!(keys_or_default("").unwrap(), vec![16, 17]);
    }

    #[test]
    fn filtering() {
        let mut f = DetachFilter::new(vec![16, 17]);
        let mut out = Vec::new();
        assert!(!f.feed(b"ab\x10", &mut out));
        assert_eq!(out, b"ab");
        assert!(!f.feed(b"c", &mut out));
        assert_eq!(out, b"ab\x10c");
        out.clear();
        assert!(!f.feed(b"\x10\x10", &mut out));
        assert_eq!(out, b"\x10");
        assert!(f.feed(b"\x11rest", &mut out));
        assert_eq!(out, b"\x10");
        let mut f = DetachFilter::new(vec![b'q']);
        out.clear();
        assert!(f.feed(b"xq", &mut out));
        assert_eq!(out, b"x");
    }
}
