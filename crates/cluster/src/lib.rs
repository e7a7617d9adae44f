//! What k8s-apply and rollout-wait share (being written).
