//! The protobuf wire format at the level the codec needs: varints, fixed 64-bit values and
//! length-delimited payloads, read from a byte slice and appended to a buffer.

use super::CodecError;

/// Wire types (the low three bits of a field key).
pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LENGTH_DELIMITED: u8 = 2;
pub const FIXED32: u8 = 5;

/// One field as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WireValue<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl WireValue<'_> {
    pub fn wire_type(&self) -> u8 {
        match self {
            WireValue::Varint(_) => VARINT,
            WireValue::Fixed64(_) => FIXED64,
            WireValue::Bytes(_) => LENGTH_DELIMITED,
            WireValue::Fixed32(_) => FIXED32,
        }
    }
}

/// Reads the fields of one message in order.
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub fn varint(&mut self) -> Result<u64, CodecError> {
        let mut value: u64 = 0;
        for (i, byte) in self.rest.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Ok(value);
            }
        }
        Err(CodecError::new("proto: illegal or truncated varint"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], CodecError> {
        if self.rest.len() < len {
            return Err(CodecError::new("proto: unexpected end of message"));
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    /// The next field's number and value, or `None` at the end of the message.
    pub fn field(&mut self) -> Result<Option<(u32, WireValue<'a>)>, CodecError> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3)
            .ok()
            .filter(|t| *t > 0)
            .ok_or_else(|| CodecError::new(format!("proto: illegal field number {}", key >> 3)))?;
        let value = match (key & 7) as u8 {
            VARINT => WireValue::Varint(self.varint()?),
            FIXED64 => {
                let bytes = self.take(8)?;
                let mut array = [0u8; 8];
                array.copy_from_slice(bytes);
                WireValue::Fixed64(u64::from_le_bytes(array))
            }
            LENGTH_DELIMITED => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| CodecError::new("proto: negative length"))?;
                WireValue::Bytes(self.take(len)?)
            }
            FIXED32 => {
                let bytes = self.take(4)?;
                let mut array = [0u8; 4];
                array.copy_from_slice(bytes);
                WireValue::Fixed32(u32::from_le_bytes(array))
            }
            other => {
                return Err(CodecError::new(format!(
                    "proto: illegal wireType {other} for field {tag}"
                )));
            }
        };
        Ok(Some((tag, value)))
    }
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "each byte takes the low seven bits on purpose"
)]
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

pub fn put_key(out: &mut Vec<u8>, tag: u32, wire_type: u8) {
    put_varint(out, (u64::from(tag) << 3) | u64::from(wire_type));
}

pub fn put_bytes(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    put_key(out, tag, LENGTH_DELIMITED);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A signed integer as Go's marshaller writes int32 and int64 (two's complement, so a negative
/// number takes ten bytes).
#[allow(
    clippy::cast_sign_loss,
    reason = "protobuf varints carry negative numbers in two's complement"
)]
pub fn put_int(out: &mut Vec<u8>, tag: u32, value: i64) {
    put_key(out, tag, VARINT);
    put_varint(out, value as u64);
}

pub fn put_double(out: &mut Vec<u8>, tag: u32, value: f64) {
    put_key(out, tag, FIXED64);
    out.extend_from_slice(&value.to_le_bytes());
}
