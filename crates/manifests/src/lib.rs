//! Dev-only helpers for CloudToLocalLLM's Kubernetes manifests (`manifests/k8s`): render an
//! overlay with `kubectl kustomize` into JSON values, walk the rendered objects, and the capacity
//! arithmetic that says whether the development overlay fits its node group.
//!
//! The checks themselves are the tests in `tests/`: rendering, strict schema validation
//! (kubernetes-validate), checkov, properties of the rendered objects, and a deploy of each
//! overlay to kube-sim with k8s-apply and rollout-wait.

pub mod capacity;
pub mod objects;
pub mod quantity;
pub mod render;

pub use render::{OVERLAYS, RenderError, kubectl, manifests_dir, overlay_dir, render};
