//! eks-token (being written).

fn main() {}
