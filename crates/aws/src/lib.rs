//! AWS SDK configuration shared by the AWS tools (being written).
