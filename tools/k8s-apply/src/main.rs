//! k8s-apply (being written).

fn main() {}
