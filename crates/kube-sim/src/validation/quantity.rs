//! Resource quantities (`500m`, `1.5Gi`, `2e3`), parsed by the grammar of apimachinery's
//! `resource.Quantity` and kept exactly (a decimal mantissa and a power of ten), so requests can
//! be compared with limits and printed in canonical form as the real server prints them.
//!
//! ```text
//! <quantity> ::= <signedNumber><suffix>
//! <number>   ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
//! <suffix>   ::= Ki | Mi | Gi | Ti | Pi | Ei | n | u | m | "" | k | M | G | T | P | E
//!              | e<signedNumber> | E<signedNumber>
//! ```

use std::cmp::Ordering;

/// What the real server says when the text is not shaped like a quantity.
pub const FORMAT_WRONG: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
const NUMERIC: &str = "unable to parse numeric part of quantity";
const SUFFIX: &str = "unable to parse quantity's suffix";

/// The characters a suffix may be made of before its optional signed exponent.
const SUFFIX_CHARS: &str = "eEinumkKMGTP";

/// How the quantity was written, which decides how it is printed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

/// An exact quantity: `mantissa × 10^exponent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    mantissa: i128,
    exponent: i32,
    format: Format,
}

/// Parses a quantity; the error is the real server's message.
pub fn parse(text: &str) -> Result<Quantity, &'static str> {
    if text.is_empty() {
        return Err(FORMAT_WRONG);
    }
    let bytes = text.as_bytes();
    let mut pos = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            pos += 1;
            true
        }
        Some(b'+') => {
            pos += 1;
            false
        }
        _ => false,
    };
    let digits_from = |start: usize| {
        bytes[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
            + start
    };
    let whole_end = digits_from(pos);
    let whole = &text[pos..whole_end];
    pos = whole_end;
    let mut fraction = "";
    if bytes.get(pos) == Some(&b'.') {
        let end = digits_from(pos + 1);
        fraction = &text[pos + 1..end];
        pos = end;
    }
    // The suffix: letters from the suffix alphabet, then an optional signed run of digits.
    let suffix_start = pos;
    while pos < bytes.len() && SUFFIX_CHARS.as_bytes().contains(&bytes[pos]) {
        pos += 1;
    }
    if matches!(bytes.get(pos), Some(b'-' | b'+')) {
        pos += 1;
    }
    while pos < bytes.len() && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos != bytes.len() {
        return Err(FORMAT_WRONG);
    }
    let suffix = &text[suffix_start..];
    let (base_exponent, binary_power, format) = interpret_suffix(suffix).ok_or(SUFFIX)?;
    if whole.is_empty() && fraction.is_empty() {
        // "." or a bare sign: no digits to read.
        return Err(NUMERIC);
    }
    let mut mantissa: i128 = 0;
    for digit in whole.bytes().chain(fraction.bytes()) {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(digit - b'0')))
            .ok_or(NUMERIC)?;
    }
    let mut exponent = base_exponent - i32::try_from(fraction.len()).map_err(|_| NUMERIC)?;
    for _ in 0..binary_power {
        mantissa = mantissa.checked_mul(1024).ok_or(NUMERIC)?;
    }
    if negative {
        mantissa = -mantissa;
    }
    // Strip trailing zeros so equal values compare equal whatever their spelling.
    while mantissa != 0 && mantissa % 10 == 0 {
        mantissa /= 10;
        exponent += 1;
    }
    if mantissa == 0 {
        exponent = 0;
    }
    Ok(Quantity {
        mantissa,
        exponent,
        format,
    })
}

/// A suffix's power of ten, power of 1024 and format.
fn interpret_suffix(suffix: &str) -> Option<(i32, u32, Format)> {
    let decimal = |e| Some((e, 0, Format::DecimalSi));
    let binary = |p| Some((0, p, Format::BinarySi));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        _ => {
            let rest = suffix.strip_prefix(['e', 'E'])?;
            let exponent: i32 = rest.parse().ok()?;
            Some((exponent, 0, Format::DecimalExponent))
        }
    }
}

impl Quantity {
    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// Compares exact values.
    pub fn cmp_value(&self, other: &Self) -> Ordering {
        let (a, b) = (self.mantissa, other.mantissa);
        if a.signum() != b.signum() || a == 0 {
            return a.signum().cmp(&b.signum());
        }
        let shift = self.exponent - other.exponent;
        let scaled = |m: i128, by: i32| {
            u32::try_from(by)
                .ok()
                .and_then(|by| 10_i128.checked_pow(by))
                .and_then(|p| m.checked_mul(p))
        };
        let (left, right) = if shift >= 0 {
            (scaled(a, shift), Some(b))
        } else {
            (Some(a), scaled(b, -shift))
        };
        match (left, right) {
            (Some(l), Some(r)) => l.cmp(&r),
            // Overflow: the side that was scaled up is the larger in magnitude.
            (None, _) => {
                if a > 0 {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (_, None) => {
                if b > 0 {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
        }
    }

    /// The canonical form the real server prints: the largest suffix that keeps the number whole
    /// (`0.5` → `500m`, `1536Mi` → `1536Mi`, `2048Ki` → `2Mi`), nothing finer than nano.
    pub fn canonical(&self) -> String {
        if self.format == Format::BinarySi
            && let Some(text) = self.binary_form()
        {
            return text;
        }
        let (mantissa, exponent) = (self.mantissa, self.exponent);
        let target = exponent.div_euclid(3) * 3;
        if target < -9 {
            // Finer than nano rounds up to the next nano.
            let drop = u32::try_from(-9 - exponent).unwrap_or(0);
            let divisor = 10_i128.checked_pow(drop).unwrap_or(i128::MAX);
            let rounded_up = mantissa / divisor + i128::from(mantissa % divisor > 0);
            return format!("{rounded_up}n");
        }
        let target = target.min(18);
        let up = u32::try_from(exponent - target).unwrap_or(0);
        let scaled = 10_i128
            .checked_pow(up)
            .and_then(|p| mantissa.checked_mul(p))
            .unwrap_or(mantissa);
        if self.format == Format::DecimalExponent {
            return if target == 0 {
                scaled.to_string()
            } else {
                format!("{scaled}e{target}")
            };
        }
        let suffix = match target {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            _ => "",
        };
        format!("{scaled}{suffix}")
    }

    /// `<n>Ki`…`<n>Ei` when the value is a whole multiple of 1024; `None` otherwise (printed
    /// in decimal form, as the real server does).
    fn binary_form(&self) -> Option<String> {
        let whole = u32::try_from(self.exponent)
            .ok()
            .and_then(|e| 10_i128.checked_pow(e))
            .and_then(|p| self.mantissa.checked_mul(p))?;
        if whole.abs() < 1024 {
            return Some(whole.to_string()).filter(|_| whole == 0);
        }
        let mut value = whole;
        let mut power = 0;
        while power < 6 && value % 1024 == 0 && value != 0 {
            value /= 1024;
            power += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power];
        if power == 0 {
            return None;
        }
        Some(format!("{value}{suffix}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_accepts_what_kubernetes_accepts() {
        for ok in [
            "1", "0", "500m", "0.5", ".5", "5.", "1.5Gi", "128Mi", "2e3", "1E-3", "+1", "-1", "1k",
            "10n", "3u",
        ] {
            assert!(parse(ok).is_ok(), "{ok} should parse");
        }
    }

    #[test]
    fn malformed_quantities_get_the_real_messages() {
        assert_eq!(parse("lots"), Err(FORMAT_WRONG));
        assert_eq!(parse("1Gb"), Err(FORMAT_WRONG));
        assert_eq!(parse("1.2.3"), Err(FORMAT_WRONG));
        assert_eq!(parse(""), Err(FORMAT_WRONG));
        assert_eq!(parse("1ki"), Err(SUFFIX));
        assert_eq!(parse("1iK"), Err(SUFFIX));
        assert_eq!(parse("."), Err(NUMERIC));
    }

    #[test]
    fn values_compare_across_suffixes() {
        let q = |s| parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(q("1").cmp_value(&q("1000m")), Ordering::Equal);
        assert_eq!(q("2").cmp_value(&q("1")), Ordering::Greater);
        assert_eq!(q("1Gi").cmp_value(&q("1G")), Ordering::Greater);
        assert_eq!(q("512Mi").cmp_value(&q("0.5Gi")), Ordering::Equal);
        assert_eq!(q("-1").cmp_value(&q("0")), Ordering::Less);
    }

    #[test]
    fn canonical_forms_match_the_real_printer() {
        let c = |s: &str| parse(s).map(|q| q.canonical()).unwrap_or_default();
        assert_eq!(c("0.5"), "500m");
        assert_eq!(c("1"), "1");
        assert_eq!(c("1000m"), "1");
        assert_eq!(c("1.5Gi"), "1536Mi");
        assert_eq!(c("2048Ki"), "2Mi");
        assert_eq!(c("1500"), "1500");
        assert_eq!(c("2k"), "2k");
        assert_eq!(c("1e3"), "1e3");
    }
}
