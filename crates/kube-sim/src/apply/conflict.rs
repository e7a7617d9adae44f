//! The 409 an apply answers when it would change fields other managers own, worded as the API
//! server words it, because kubectl prints the message as is and users search for it.

use serde_json::{Value, json};

use crate::api::status::ApiError;

/// One conflicting field: the other manager as conflict messages describe it, and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub path: String,
}

/// The `Conflict` status for `conflicts` (at least one).
pub fn error(conflicts: &[Conflict]) -> ApiError {
    let message = if let [only] = conflicts {
        format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager, only.path
        )
    } else {
        let mut lines = Vec::new();
        let mut current: Option<&str> = None;
        // Callers pass conflicts grouped by manager, managers in order.
        for conflict in conflicts {
            if current != Some(conflict.manager.as_str()) {
                lines.push(format!("conflicts with {}:", conflict.manager));
                current = Some(&conflict.manager);
            }
            lines.push(format!("- {}", conflict.path));
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|c| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", c.manager), "field": c.path}))
        .collect();
    ApiError::new(409, "Conflict", message).with_details(json!({ "causes": causes }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict(manager: &str, path: &str) -> Conflict {
        Conflict {
            manager: manager.to_owned(),
            path: path.to_owned(),
        }
    }

    #[test]
    fn one_conflict_reads_like_kubernetes() {
        let err = error(&[conflict(
            "\"kubectl-client-side-apply\" using apps/v1",
            ".spec.replicas",
        )]);
        assert_eq!(err.code, 409);
        assert_eq!(err.reason, "Conflict");
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"kubectl-client-side-apply\" using apps/v1: .spec.replicas"
        );
        assert_eq!(
            err.details.unwrap()["causes"][0],
            json!({"reason": "FieldManagerConflict", "message": "conflict with \"kubectl-client-side-apply\" using apps/v1", "field": ".spec.replicas"})
        );
    }

    #[test]
    fn several_conflicts_are_grouped_by_manager() {
        let err = error(&[
            conflict("\"a\"", ".x"),
            conflict("\"a\"", ".y"),
            conflict("\"b\"", ".z"),
        ]);
        assert_eq!(
            err.message,
            "Apply failed with 3 conflicts: conflicts with \"a\":\n- .x\n- .y\nconflicts with \"b\":\n- .z"
        );
    }
}
