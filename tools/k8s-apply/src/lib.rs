//! k8s-apply (being written).
