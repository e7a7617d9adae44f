//! Kubernetes resource quantities, as far as requests need: CPU in millicores, memory in bytes.

use serde_json::Value;

/// CPU as millicores: `250m`, `1`, `0.5`, or a JSON number. `None` when not a CPU quantity.
pub fn cpu_millis(value: &Value) -> Option<u64> {
    let text = text(value)?;
    if let Some(millis) = text.strip_suffix('m') {
        return millis.parse().ok();
    }
    let cores: f64 = text.parse().ok()?;
    if !cores.is_finite() || cores < 0.0 {
        return None;
    }
    // Whole millicores: Kubernetes rounds a request up to 1m.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some((cores * 1000.0).ceil() as u64)
}

/// Memory as bytes: `128Mi`, `1Gi`, `500M`, `1e6`, a plain number. `None` when not a quantity.
pub fn bytes(value: &Value) -> Option<u64> {
    let text = text(value)?;
    const SUFFIXES: [(&str, u64); 10] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("Pi", 1 << 50),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
        ("P", 1_000_000_000_000_000),
    ];
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<u64>().ok()?.checked_mul(factor);
        }
    }
    let number: f64 = text.parse().ok()?;
    if !number.is_finite() || number < 0.0 {
        return None;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some(number.ceil() as u64)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cpu_and_memory_parse_as_kubernetes_writes_them() {
        assert_eq!(cpu_millis(&json!("250m")), Some(250));
        assert_eq!(cpu_millis(&json!("1")), Some(1000));
        assert_eq!(cpu_millis(&json!(0.5)), Some(500));
        assert_eq!(cpu_millis(&json!("x")), None);
        assert_eq!(bytes(&json!("128Mi")), Some(128 << 20));
        assert_eq!(bytes(&json!("1Gi")), Some(1 << 30));
        assert_eq!(bytes(&json!("500M")), Some(500_000_000));
        assert_eq!(bytes(&json!("1e6")), Some(1_000_000));
        assert_eq!(bytes(&json!("lots")), None);
    }
}
