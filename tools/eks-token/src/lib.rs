//! eks-token (being written).
